import { parseDocument, type Tags } from 'yaml';

// CloudFormation's short-form intrinsics (`!Ref`, `!GetAtt`, `!Sub`) as the YAML files of serverless.yml
// and infra/ write them, kept as values the local stack can resolve against what it provisioned.

export interface Intrinsic {
  intrinsic: '!GetAtt' | '!Ref' | '!Sub';
  value: unknown;
}

const INTRINSICS: Tags = (['!GetAtt', '!Ref', '!Sub'] as const).map((tag) => ({
  tag,
  resolve: (value: string): Intrinsic => ({ intrinsic: tag, value }),
}));

export function isIntrinsic(value: unknown): value is Intrinsic {
  return typeof value === 'object' && value !== null && 'intrinsic' in value;
}

/** Parses CloudFormation-flavoured YAML; `source` names the file in errors. */
export function parseCloudFormationYaml(text: string, source: string): unknown {
  const document = parseDocument(text, { customTags: INTRINSICS });
  if (document.errors.length > 0) throw new Error(`${source}: ${document.errors[0]?.message}`);
  return document.toJS();
}
