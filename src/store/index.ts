export { ApiKeyStore } from './api-key-store.js';
export { AuditLogStore } from './audit-log-store.js';
export type * from './documents.js';
export { connectMongo, ensureIndexes, type MongoConnection } from './mongo.js';
export { ProjectStore } from './project-store.js';
