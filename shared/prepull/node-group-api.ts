import { errorResponse, type HttpResponse, NotFoundError } from '#shared/http/errors.ts';
import type { HttpRequest } from '#shared/http/request.ts';
import {
  handleNodeGroupStatusRequest,
  handleNodeReportRequest,
  type NodeGroupStatusDependencies,
  type NodeReportDependencies,
} from './node-report-http.ts';
import { handleWarmSetRequest, type WarmSetDependencies } from './warm-set-http.ts';

// The node-group routes served by one function (nodegroup-api), chosen by the gateway's route key.

export type NodeGroupApiDependencies = WarmSetDependencies &
  NodeReportDependencies &
  NodeGroupStatusDependencies;

type Route = (request: HttpRequest, deps: NodeGroupApiDependencies) => Promise<HttpResponse>;

export const NODE_GROUP_ROUTES: Readonly<Record<string, Route>> = {
  'GET /v1/nodegroups/{nodeGroup}/warmset': handleWarmSetRequest,
  'POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report': handleNodeReportRequest,
  'GET /v1/nodegroups/{nodeGroup}/status': handleNodeGroupStatusRequest,
};

export function handleNodeGroupApiRequest(
  request: HttpRequest & { routeKey?: string },
  deps: NodeGroupApiDependencies,
): Promise<HttpResponse> {
  const route = Object.hasOwn(NODE_GROUP_ROUTES, request.routeKey ?? '')
    ? NODE_GROUP_ROUTES[request.routeKey as string]
    : undefined;
  if (route === undefined) {
    return Promise.resolve(errorResponse(new NotFoundError('no such node group route')));
  }
  return route(request, deps);
}
