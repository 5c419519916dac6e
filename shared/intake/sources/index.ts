import type { WebhookSource } from '../model.ts';
import { acr } from './acr.ts';
import { artifactory } from './artifactory.ts';
import { distribution } from './distribution.ts';
import { dockerhub } from './dockerhub.ts';
import { gar } from './gar.ts';
import { github } from './github.ts';
import { harbor } from './harbor.ts';
import { quay } from './quay.ts';
import type { SourceAdapter } from './source.ts';

export const SOURCE_ADAPTERS: Readonly<Record<WebhookSource, SourceAdapter>> = {
  distribution,
  harbor,
  dockerhub,
  github,
  quay,
  artifactory,
  acr,
  gar,
};
