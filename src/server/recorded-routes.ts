/**
 * The RPC route table, built once for every protocol: `recordRoutes` runs
 * the service's `routes(router)` against a recorder, keeping each method's
 * implementation (what connect's router would build from the same calls).
 * The native gRPC path serves those specs; `register` replays the same
 * calls on connect's router for Connect, gRPC-Web and what the native path
 * hands over. Both reach the same implementation objects.
 */
import type { ConnectRouter, MethodImplSpec } from '@connectrpc/connect';
import { createMethodImplSpec, createServiceImplSpec } from '@connectrpc/connect';

export interface RecordedRoutes {
  /** Every method registered without per-route options, by request path ("/pkg.Service/Method"). */
  readonly specs: ReadonlyMap<string, MethodImplSpec>;
  /** Every registered request path, with route options or not. */
  readonly paths: ReadonlySet<string>;
  /** Registers every recorded route on a connect router. */
  readonly register: (router: ConnectRouter) => void;
}

export function recordRoutes(routes: (router: ConnectRouter) => void): RecordedRoutes {
  const specs = new Map<string, MethodImplSpec>();
  const replays: Array<(router: ConnectRouter) => void> = [];
  const paths = new Set<string>();
  const add = (spec: MethodImplSpec, options: object | undefined) => {
    const path = `/${spec.method.parent.typeName}/${spec.method.name}`;
    paths.add(path);
    // Routes with their own options (protocols, limits) stay connect's alone.
    if (options === undefined) specs.set(path, spec);
  };
  const recorder: ConnectRouter = {
    handlers: [],
    service(service, implementation, options) {
      replays.push((router) => router.service(service, implementation, options));
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) {
        add(spec, options);
      }
      return this;
    },
    rpc(method, impl, options) {
      replays.push((router) => router.rpc(method, impl, options));
      add(createMethodImplSpec(method, impl), options);
      return this;
    },
  };
  routes(recorder);
  return {
    specs,
    paths,
    register: (router) => {
      for (const replay of replays) replay(router);
    },
  };
}
