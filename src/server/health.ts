// The standard gRPC health service (grpc.health.v1.Health), used by load
// balancers, Kubernetes probes and grpc-health-probe.
//
// There is one readiness for the whole server: every known service (and "",
// which means the server as a whole) is SERVING when `checkReady()` resolves
// true, and NOT_SERVING when it resolves false, rejects, or once the server
// has begun shutting down (`shutdownSignal` aborted).

import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import {
  Health,
  type HealthCheckResponse,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../gen/health/v1/health_pb.js';

export interface HealthOptions {
  /** Resolves true when the server can serve requests (e.g. its database answers). */
  checkReady: () => Promise<boolean>;
  /** Fully-qualified names of the services whose health can be asked for. */
  serviceNames: readonly string[];
  /** How often Watch calls `checkReady` to notice changes. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Aborted when the server begins to shut down. */
  shutdownSignal: AbortSignal;
}

/** Routes for grpc.health.v1.Health: Check, Watch and List. */
export function healthRoutes(options: HealthOptions): (router: ConnectRouter) => void {
  const { checkReady, shutdownSignal } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const knownServices = new Set(['', ...options.serviceNames]);
  const currentStatus = () => readStatus(checkReady, shutdownSignal);

  return (router) => {
    router.service(Health, {
      async check(request) {
        if (!knownServices.has(request.service)) {
          throw new ConnectError(`unknown service "${request.service}"`, Code.NotFound);
        }
        return statusResponse(await currentStatus());
      },

      async *watch(request, context) {
        const stop = [context.signal, shutdownSignal];
        if (!knownServices.has(request.service)) {
          // Per health.proto: answer SERVICE_UNKNOWN and keep the call open.
          yield statusResponse(ServingStatus.SERVICE_UNKNOWN);
          await sleep(undefined, stop);
          if (!shutdownSignal.aborted) context.signal.throwIfAborted();
          return;
        }
        let lastSent: ServingStatus | undefined;
        for (;;) {
          const status = await currentStatus();
          if (shutdownSignal.aborted) {
            // Shutting down: NOT_SERVING is the last message.
            if (lastSent !== ServingStatus.NOT_SERVING) {
              yield statusResponse(ServingStatus.NOT_SERVING);
            }
            return;
          }
          // The deadline passed or the client went away: end the call with
          // that reason (DEADLINE_EXCEEDED or CANCELED).
          context.signal.throwIfAborted();
          if (status !== lastSent) {
            lastSent = status;
            yield statusResponse(status);
          }
          await sleep(pollIntervalMs, stop);
        }
      },

      async list() {
        const response = statusResponse(await currentStatus());
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const name of knownServices) statuses[name] = response;
        return create(HealthListResponseSchema, { statuses });
      },
    });
  };
}

/** One call of `checkReady`, as a serving status. */
async function readStatus(
  checkReady: () => Promise<boolean>,
  shutdownSignal: AbortSignal,
): Promise<ServingStatus> {
  if (shutdownSignal.aborted) return ServingStatus.NOT_SERVING;
  let ready: boolean;
  try {
    ready = await checkReady();
  } catch {
    ready = false;
  }
  // Shutdown may have begun while checkReady was running.
  return ready && !shutdownSignal.aborted ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

function statusResponse(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status });
}

/**
 * Resolves after `ms` milliseconds (never, if undefined), or as soon as one of
 * `signals` aborts, whichever comes first. It never rejects.
 */
function sleep(ms: number | undefined, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((signal) => signal.aborted)) {
      resolve();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const wake = (): void => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener('abort', wake);
      resolve();
    };
    for (const signal of signals) signal.addEventListener('abort', wake);
    if (ms !== undefined) timer = setTimeout(wake, ms);
  });
}
