/**
 * The deadlines (grpc-timeout) of the native gRPC calls in flight, on one
 * timer instead of one per call. A warm check ends long before its
 * deadline, and arming and clearing a timer for each call was about 3% of
 * its CPU (the timer lists' insert and unenroll, libuv's clock). The timer
 * is armed for the earliest deadline; when it fires, the calls past theirs
 * are told, and it is armed again for the earliest left.
 */

/** A call that can be told its deadline has passed. */
export interface DeadlineBound {
  onDeadline(): void;
}

export class CallDeadlines {
  /** Each pending call's deadline, in `now()` milliseconds. */
  private readonly pending = new Map<DeadlineBound, number>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  add(call: DeadlineBound, deadline: number): void {
    this.pending.set(call, deadline);
    if (deadline < this.armedFor) this.arm(deadline);
  }

  /**
   * The call ended. The timer stays armed (clearing it would cost what a
   * timer per call did): when it fires it finds nothing due, and re-arms
   * for the calls left, if any.
   */
  remove(call: DeadlineBound): void {
    this.pending.delete(call);
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(() => this.fire(), Math.max(0, deadline - this.now()));
    // The calls' own streams keep the process alive; a far deadline must not.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    const due: DeadlineBound[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [call, deadline] of this.pending) {
      if (deadline <= now) due.push(call);
      else next = Math.min(next, deadline);
    }
    for (const call of due) this.pending.delete(call);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const call of due) call.onDeadline();
  }
}
