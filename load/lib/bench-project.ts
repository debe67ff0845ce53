/**
 * The project a benchmark measures: created through the service's own use
 * cases (an in-process app that is stopped again before the service under
 * load starts), with a catalog and operator grants.
 */
import { startApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { CatalogEntryDoc } from '../../src/store/documents.js';

export interface BenchGrant {
  readonly customerId: string;
  readonly feature: string;
  /** null: unlimited. */
  readonly limit: number | null;
}

export interface BenchProjectSpec {
  readonly name: string;
  readonly stripeSecretKey: string;
  readonly webhookSigningSecret: string;
  readonly catalog: CatalogEntryDoc[];
  readonly grants: readonly BenchGrant[];
}

export interface SeededProject {
  readonly projectId: string;
  /** The project's initial admin key (every scope of the project, usage:write included). */
  readonly apiKey: string;
}

/** Creates the project of `spec` in the database `env` names (MONGODB_URL, REDIS_URL, ...). */
export async function seedProject(
  env: Record<string, string>,
  spec: BenchProjectSpec,
): Promise<SeededProject> {
  const app = await startApp(
    loadConfig({ ...env, HOST: '127.0.0.1', PORT: '0', METRICS_PORT: '0' }),
    createLogger({ level: 'warn' }),
  );
  try {
    const created = await app.projects.create({
      name: spec.name,
      stripeSecretKey: spec.stripeSecretKey,
      webhookSigningSecret: spec.webhookSigningSecret,
      gracePeriodSeconds: 0,
      actor: 'bench',
      reason: 'benchmark',
    });
    const projectId = created.project._id;
    await app.projects.setCatalog(projectId, spec.catalog, 'bench', 'benchmark');
    for (const grant of spec.grants) {
      await app.grants.grant({
        projectId,
        ...grant,
        expiresAt: null,
        actor: 'bench',
        reason: 'benchmark',
      });
    }
    return { projectId, apiKey: created.adminKey.secret };
  } finally {
    await app.stop();
  }
}
