/**
 * A second, independent gRPC implementation (@grpc/grpc-js) for tests: it
 * shares nothing with connect-node but the protobuf-es message encoding.
 */
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';

export interface GrpcJsResult<T> {
  readonly response?: T;
  readonly error?: { readonly code: grpc.status; readonly details: string };
}

export class GrpcJsClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<GrpcJsResult<MessageShape<O>>> {
    const metadata = new grpc.Metadata();
    for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
    const path = `/${method.parent.typeName}/${method.name}`;
    const message = create(method.input, request);
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        path,
        (value: MessageShape<I>) => Buffer.from(toBinary(method.input, value)),
        (bytes: Buffer) => fromBinary(method.output, bytes),
        message,
        metadata,
        (err: grpc.ServiceError | null, response?: MessageShape<O>) => {
          if (err) resolve({ error: { code: err.code, details: err.details } });
          else resolve({ response });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
