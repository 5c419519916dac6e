import type { Config } from '#shared/config/schema.ts';
import type { SecretResolver } from '#shared/config/secret-ref.ts';
import { NotFoundError, UnauthorizedError } from '#shared/http/errors.ts';
import { type HttpRequest, header } from '#shared/http/request.ts';
import { verifyBearerToken } from '#shared/intake/verify.ts';
import { NODE_GROUP_NAME } from './names.ts';

// Who may act for a node group on the routes its nodes call (warm set, reports). On AWS the gateway's
// IAM authorizer has decided before the function runs; the local stack has no authorizer, so the
// node group's bearer token decides there.

export interface NodeGroupAccess {
  secrets: SecretResolver;
  /** `token`: check the node group's bearer token; `iam`: the gateway authorised the caller. */
  authentication: 'token' | 'iam';
}

/** The `{nodeGroup}` of the path; a name no node group can have is a 404. */
export function nodeGroupOf(request: HttpRequest): string {
  const nodeGroup = request.pathParameters?.nodeGroup ?? '';
  if (!NODE_GROUP_NAME.test(nodeGroup)) throw new NotFoundError('no such node group');
  return nodeGroup;
}

/** Throws 401 unless the request may act for `nodeGroup`. */
export async function authorizeNodeGroup(
  request: HttpRequest,
  nodeGroup: string,
  config: Config,
  access: NodeGroupAccess,
): Promise<void> {
  if (access.authentication !== 'token') return;
  const token = config.nodeGroups.groups[nodeGroup]?.token;
  if (token === undefined) {
    throw new UnauthorizedError(`node group ${nodeGroup} has no token configured`);
  }
  await verifyBearerToken(
    header(request, 'authorization'),
    token,
    access.secrets,
    `nodeGroups.groups.${nodeGroup}.token`,
  );
}
