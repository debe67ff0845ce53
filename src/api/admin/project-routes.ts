/**
 * Project handlers. A key acts on its own project; CreateProject makes a new,
 * separate project and returns that project's first admin key (once). Secrets
 * go in, never out: answers carry only whether each is set.
 */
import { create } from '@bufbuild/protobuf';
import type { Duration } from '@bufbuild/protobuf/wkt';
import {
  CreateProjectResponseSchema,
  GetProjectResponseSchema,
  RotateWebhookSecretResponseSchema,
  UpdateProjectResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { NotFoundError } from '../../domain/errors.js';
import { defaultGracePeriodSeconds } from '../../services/project-service.js';
import { requirePrincipal } from '../auth.js';
import { apiKeyMessage, projectMessage } from '../convert.js';
import { invalid, limits, requireMatch, requireReason, requireText } from '../validate.js';
import type { AdminRoutesDeps, ProjectHandlers } from './admin-routes-deps.js';

const stripeKeyPattern = /^(sk|rk)_(test|live)_[A-Za-z0-9]{8,247}$/;
const webhookSecretPattern = /^whsec_[A-Za-z0-9+/=_-]{8,250}$/;
const maxGracePeriodSeconds = 90 * 24 * 3600;

export function projectHandlers(deps: AdminRoutesDeps): ProjectHandlers {
  return {
    async getProject(_req, context) {
      const principal = requirePrincipal(context);
      const project = await deps.projects.get(principal.projectId);
      if (!project) throw new NotFoundError('project');
      return create(GetProjectResponseSchema, { project: projectMessage(project) });
    },

    async createProject(req, context) {
      const principal = requirePrincipal(context);
      const created = await deps.projects.create({
        name: requireText('name', req.name, limits.name),
        stripeSecretKey: stripeKey(req.stripeSecretKey),
        webhookSigningSecret: webhookSecret(req.webhookSigningSecret),
        gracePeriodSeconds: gracePeriod(req.gracePeriod) ?? defaultGracePeriodSeconds,
        actor: principal.keyId,
        reason: requireReason(req.reason),
      });
      return create(CreateProjectResponseSchema, {
        project: projectMessage(created.project),
        adminKey: apiKeyMessage(created.adminKey.key),
        adminKeySecret: created.adminKey.secret,
      });
    },

    async updateProject(req, context) {
      const principal = requirePrincipal(context);
      const changes = {
        name: req.name === undefined ? undefined : requireText('name', req.name, limits.name),
        gracePeriodSeconds: gracePeriod(req.gracePeriod),
        stripeSecretKey:
          req.stripeSecretKey === undefined
            ? undefined
            : (stripeKey(req.stripeSecretKey) ?? undefined),
      };
      if (req.stripeSecretKey === '')
        throw invalid('stripe_secret_key', 'cannot be emptied, only replaced');
      if (Object.values(changes).every((value) => value === undefined)) {
        throw invalid('name, grace_period, stripe_secret_key', 'set at least one');
      }
      const updated = await deps.projects.update(
        principal.projectId,
        changes,
        principal.keyId,
        requireReason(req.reason),
      );
      return create(UpdateProjectResponseSchema, { project: projectMessage(updated) });
    },

    async rotateWebhookSecret(req, context) {
      const principal = requirePrincipal(context);
      const secret = webhookSecret(req.webhookSigningSecret);
      if (secret === null) throw invalid('webhook_signing_secret', 'is required');
      const updated = await deps.projects.update(
        principal.projectId,
        { webhookSigningSecret: secret },
        principal.keyId,
        requireReason(req.reason),
      );
      return create(RotateWebhookSecretResponseSchema, { project: projectMessage(updated) });
    },
  };
}

/** Optional on create: a project may be set up before its Stripe account. */
function stripeKey(value: string): string | null {
  if (value === '') return null;
  // The message never echoes the value: it is a secret.
  return requireMatch(
    'stripe_secret_key',
    value,
    stripeKeyPattern,
    'a Stripe secret or restricted key (sk_... or rk_...)',
  );
}

function webhookSecret(value: string): string | null {
  if (value === '') return null;
  return requireMatch(
    'webhook_signing_secret',
    value,
    webhookSecretPattern,
    'a Stripe webhook signing secret (whsec_...)',
  );
}

function gracePeriod(value: Duration | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value.seconds);
  if (seconds < 0 || seconds > maxGracePeriodSeconds || value.nanos !== 0) {
    throw invalid('grace_period', `must be whole seconds between 0 and ${maxGracePeriodSeconds}`);
  }
  return seconds;
}
