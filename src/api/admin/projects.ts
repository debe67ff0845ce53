/** Project handlers: read the calling key's project. */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { GetProjectResponseSchema } from '../../../gen/billing/v1/admin_pb.js';
import { requirePrincipal } from '../auth.js';
import { projectMessage } from '../convert.js';
import type { AdminHandlers, AdminServiceDeps } from './types.js';

export function projectHandlers(deps: AdminServiceDeps): AdminHandlers {
  return {
    async getProject(_req, context) {
      const principal = requirePrincipal(context);
      const project = await deps.projects.get(principal.projectId);
      if (!project) throw new ConnectError('project not found', Code.NotFound);
      return create(GetProjectResponseSchema, { project: projectMessage(project) });
    },
  };
}
