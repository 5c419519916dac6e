import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

// Small helpers every DynamoDB adapter of the state table uses.

/** DynamoDB TTL attributes are epoch seconds. */
export const epochSeconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/** True when a conditional write was refused because its condition did not hold. */
export function conditionFailed(error: unknown): boolean {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error as { name?: string }).name === 'ConditionalCheckFailedException'
  );
}
