/**
 * The Node request and response types of one handler for both HTTP/1.1 and
 * HTTP/2, as connect-node types its fallback. A leaf module: the server and
 * the /demo routes both use it, and neither imports the other.
 */
import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';

export type NodeHandler = NonNullable<ConnectNodeAdapterOptions['fallback']>;
export type NodeRequest = Parameters<NodeHandler>[0];
export type NodeResponse = Parameters<NodeHandler>[1];
