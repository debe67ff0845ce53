/**
 * A flag that a producer raises and a consumer sleeps on: the consumer
 * clears it before it reads, so a raise that lands while it reads is never
 * lost, and many raises between two reads cost one wake-up.
 */
export class WakeSignal {
  raised = false;
  private wake: (() => void) | undefined;

  raise(): void {
    this.raised = true;
    this.wake?.();
  }

  /** Resolves when raised (at once if it is already), on the abort signal, or after `ms`. */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
      if (this.raised || signal.aborted) done();
    });
  }
}
