import semver from 'semver';
import { z } from 'zod';
import { globMatches } from '#shared/text/glob.ts';

// Which tags of a matching repository a pre-pull rule takes. A push without a tag only matches `any`.

export const tagFilterSchema = z.union(
  [
    z.literal('any'),
    z.strictObject({ glob: z.string().min(1) }),
    z.strictObject({
      regex: z.string().refine((source) => {
        try {
          new RegExp(source, 'u');
          return true;
        } catch {
          return false;
        }
      }, 'must be a valid regular expression'),
    }),
    z.strictObject({
      semver: z
        .string()
        .refine((range) => semver.validRange(range) !== null, 'must be a semver range'),
      includePrerelease: z.boolean().default(false),
    }),
  ],
  { error: 'must be "any", {glob}, {regex} or {semver}' },
);

export type TagFilter = z.infer<typeof tagFilterSchema>;

export function tagFilterMatches(filter: TagFilter, tag: string | undefined): boolean {
  if (filter === 'any') return true;
  if (tag === undefined) return false;
  if ('glob' in filter) return globMatches(filter.glob, tag);
  if ('regex' in filter) return new RegExp(filter.regex, 'u').test(tag);
  // `v1.2.3` and `1.2.3` are the same version; anything that is not a version does not match.
  const version = semver.clean(tag);
  return (
    version !== null &&
    semver.satisfies(version, filter.semver, { includePrerelease: filter.includePrerelease })
  );
}

export function describeTagFilter(filter: TagFilter): string {
  if (filter === 'any') return 'any tag';
  if ('glob' in filter) return `tag glob ${filter.glob}`;
  if ('regex' in filter) return `tag regex /${filter.regex}/`;
  return `semver ${filter.semver}${filter.includePrerelease ? ' (with prereleases)' : ''}`;
}
