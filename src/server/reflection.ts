// gRPC server reflection (grpc.reflection.v1 and v1alpha), so that tools such
// as grpcurl can list our services and describe their methods and messages.
//
// Everything is answered from a FileDescriptorSet (gen/descriptors.binpb,
// written by `buf build`). We index it once, when the routes are created:
//   - file name         -> the file, serialized, plus the names it imports
//   - symbol full name  -> the name of the file that defines it
//   - extended message  -> extension field number -> the file defining it
// A request is then a few map look-ups. Files are answered together with all
// their transitive imports, the requested file first (clients such as grpcurl
// read the first file as the answer and keep the rest as dependencies).

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';

export interface ReflectionOptions {
  /** A serialized google.protobuf.FileDescriptorSet. */
  descriptorSet: Uint8Array;
  /** Fully-qualified names of the services to list; each must be in the set. */
  serviceNames: readonly string[];
}

/** Routes for both versions of the gRPC ServerReflection service. */
export function reflectionRoutes(options: ReflectionOptions): (router: ConnectRouter) => void {
  const index = buildIndex(options.descriptorSet);
  for (const name of options.serviceNames) {
    if (!index.services.has(name)) {
      throw new Error(`reflection: service ${name} is not in the descriptor set`);
    }
  }
  const answer = (query: Query): Answer => answerQuery(index, options.serviceNames, query);

  return (router) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield create(v1.ServerReflectionResponseSchema, {
            validHost: request.host,
            originalRequest: request,
            messageResponse: answer(request.messageRequest),
          });
        }
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield create(v1alpha.ServerReflectionResponseSchema, {
            validHost: request.host,
            originalRequest: request,
            messageResponse: answer(request.messageRequest),
          });
        }
      },
    });
  };
}

// ---------------------------------------------------------------------------
// Answering requests. Query and Answer have the shape of the request and
// response oneofs, which is the same in v1 and v1alpha.

type Query =
  | { case: 'listServices'; value: string }
  | { case: 'fileByFilename'; value: string }
  | { case: 'fileContainingSymbol'; value: string }
  | { case: 'fileContainingExtension'; value: { containingType: string; extensionNumber: number } }
  | { case: 'allExtensionNumbersOfType'; value: string }
  | { case: undefined; value?: undefined };

type Answer =
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: 'allExtensionNumbersResponse';
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

function answerQuery(
  index: DescriptorIndex,
  serviceNames: readonly string[],
  query: Query,
): Answer {
  switch (query.case) {
    case 'listServices':
      return {
        case: 'listServicesResponse',
        value: { service: serviceNames.map((name) => ({ name })) },
      };
    case 'fileByFilename':
      return fileAnswer(index, query.value, `file ${query.value}`);
    case 'fileContainingSymbol': {
      const file = index.symbolFiles.get(withoutLeadingDot(query.value));
      return fileAnswer(index, file, `symbol ${query.value}`);
    }
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = query.value;
      const byNumber = index.extensionFiles.get(withoutLeadingDot(containingType));
      const file = byNumber?.get(extensionNumber);
      return fileAnswer(index, file, `extension ${extensionNumber} of ${containingType}`);
    }
    case 'allExtensionNumbersOfType':
      return extensionNumbersAnswer(index, withoutLeadingDot(query.value));
    default:
      return errorAnswer(Code.InvalidArgument, 'the request names no known kind of query');
  }
}

/** The file and its transitive imports, or NOT_FOUND naming `what`. */
function fileAnswer(index: DescriptorIndex, fileName: string | undefined, what: string): Answer {
  if (fileName === undefined || !index.files.has(fileName)) {
    return errorAnswer(Code.NotFound, `${what} not found`);
  }
  const fileDescriptorProto = withImports(index, fileName).flatMap(
    (name) => index.files.get(name)?.bytes ?? [],
  );
  return { case: 'fileDescriptorResponse', value: { fileDescriptorProto } };
}

function extensionNumbersAnswer(index: DescriptorIndex, typeName: string): Answer {
  if (!index.messages.has(typeName)) {
    return errorAnswer(Code.NotFound, `message type ${typeName} not found`);
  }
  const numbers = [...(index.extensionFiles.get(typeName)?.keys() ?? [])];
  return {
    case: 'allExtensionNumbersResponse',
    value: { baseTypeName: typeName, extensionNumber: numbers.sort((a, b) => a - b) },
  };
}

function errorAnswer(code: Code, message: string): Answer {
  return { case: 'errorResponse', value: { errorCode: code, errorMessage: message } };
}

/** `fileName` first, then every file it imports, directly or not, once each. */
function withImports(index: DescriptorIndex, fileName: string): string[] {
  const names = new Set<string>(); // a Set keeps insertion order
  const visit = (name: string): void => {
    if (names.has(name)) return;
    names.add(name);
    for (const imported of index.files.get(name)?.imports ?? []) visit(imported);
  };
  visit(fileName);
  return [...names];
}

// ---------------------------------------------------------------------------
// The index, built once from the descriptor set.

interface IndexedFile {
  /** The serialized FileDescriptorProto, as sent to clients. */
  bytes: Uint8Array;
  /** Names of the files this one imports. */
  imports: readonly string[];
}

interface DescriptorIndex {
  /** File name -> file. */
  files: Map<string, IndexedFile>;
  /** Fully-qualified symbol name (no leading dot) -> name of its file. */
  symbolFiles: Map<string, string>;
  /** Fully-qualified names of all services. */
  services: Set<string>;
  /** Fully-qualified names of all messages. */
  messages: Set<string>;
  /** Extended message name -> extension field number -> name of its file. */
  extensionFiles: Map<string, Map<number, string>>;
}

function buildIndex(descriptorSet: Uint8Array): DescriptorIndex {
  const index: DescriptorIndex = {
    files: new Map(),
    symbolFiles: new Map(),
    services: new Set(),
    messages: new Set(),
    extensionFiles: new Map(),
  };
  for (const file of fromBinary(FileDescriptorSetSchema, descriptorSet).file) {
    index.files.set(file.name, {
      bytes: toBinary(FileDescriptorProtoSchema, file),
      imports: file.dependency,
    });
    indexFile(index, file);
  }
  return index;
}

/** Records every symbol that `file` defines, and its extensions. */
function indexFile(index: DescriptorIndex, file: FileDescriptorProto): void {
  const walk: FileWalk = { index, fileName: file.name };
  for (const service of file.service) {
    const serviceName = join(file.package, service.name);
    index.services.add(serviceName);
    addSymbol(walk, serviceName);
    for (const method of service.method) addSymbol(walk, join(serviceName, method.name));
  }
  for (const message of file.messageType) indexMessage(walk, file.package, message);
  for (const enumType of file.enumType) indexEnum(walk, file.package, enumType);
  for (const extension of file.extension) indexExtension(walk, file.package, extension);
}

/** The index being built, and the file whose symbols are being recorded. */
interface FileWalk {
  index: DescriptorIndex;
  fileName: string;
}

function addSymbol(walk: FileWalk, name: string): void {
  if (!walk.index.symbolFiles.has(name)) walk.index.symbolFiles.set(name, walk.fileName);
}

/** A message, its fields and oneofs, and everything nested in it. */
function indexMessage(walk: FileWalk, scope: string, message: DescriptorProto): void {
  const name = join(scope, message.name);
  walk.index.messages.add(name);
  addSymbol(walk, name);
  for (const field of message.field) addSymbol(walk, join(name, field.name));
  for (const oneof of message.oneofDecl) addSymbol(walk, join(name, oneof.name));
  for (const nested of message.nestedType) indexMessage(walk, name, nested);
  for (const enumType of message.enumType) indexEnum(walk, name, enumType);
  for (const extension of message.extension) indexExtension(walk, name, extension);
}

/**
 * An enum and its values. Protobuf scopes enum values next to their enum
 * (pkg.VALUE, not pkg.Enum.VALUE); we accept both spellings.
 */
function indexEnum(walk: FileWalk, scope: string, enumType: EnumDescriptorProto): void {
  const name = join(scope, enumType.name);
  addSymbol(walk, name);
  for (const value of enumType.value) {
    addSymbol(walk, join(scope, value.name));
    addSymbol(walk, join(name, value.name));
  }
}

/** An extension is a symbol, and also a field number of the message it extends. */
function indexExtension(walk: FileWalk, scope: string, extension: FieldDescriptorProto): void {
  addSymbol(walk, join(scope, extension.name));
  const extendee = withoutLeadingDot(extension.extendee);
  const byNumber = walk.index.extensionFiles.get(extendee) ?? new Map<number, string>();
  byNumber.set(extension.number, walk.fileName);
  walk.index.extensionFiles.set(extendee, byNumber);
}

/** Descriptors write full names as ".pkg.Name"; clients may, too. */
function withoutLeadingDot(name: string): string {
  return name.startsWith('.') ? name.slice(1) : name;
}

/** `scope.name`, or just `name` in the root scope (a file without package). */
function join(scope: string, name: string): string {
  return scope === '' ? name : `${scope}.${name}`;
}
