import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOCAL_ACCOUNT_ID } from './emulators.ts';

// The few SSM and Secrets Manager calls pullwarden makes, answered in-process for the local stack
// (AWS JSON 1.1 protocol, as the SDK clients speak it when AWS_ENDPOINT_URL_SSM and
// AWS_ENDPOINT_URL_SECRETS_MANAGER point here):
// - SSM SendCommand: nothing runs it locally, so each command is recorded and reported, with an id;
// - SSM GetParameter and Secrets Manager GetSecretValue: the local secrets the stack holds.

export interface SentCommand {
  commandId: string;
  documentName: string;
  targets: { Key: string; Values: string[] }[];
  /** Set instead of `targets` when the command names its instances. */
  instanceIds?: string[];
  parameters: Record<string, string[]>;
  maxConcurrency?: string;
  maxErrors?: string;
  comment?: string;
}

export interface ControlPlaneStandIn {
  endpoint: string;
  commands: SentCommand[];
  stop(): Promise<void>;
}

class AwsError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.type = type;
  }
}

type Operation = (input: Record<string, unknown>) => unknown;

export async function startControlPlaneStandIn(options: {
  region: string;
  parameter(name: string): string | undefined;
  secret(id: string): string | undefined;
  onCommand(command: SentCommand): void;
}): Promise<ControlPlaneStandIn> {
  const commands: SentCommand[] = [];
  const operations: Record<string, Operation> = {
    'AmazonSSM.SendCommand'(input) {
      const command: SentCommand = {
        commandId: randomUUID(),
        documentName: String(input.DocumentName),
        targets: (input.Targets as SentCommand['targets']) ?? [],
        ...(Array.isArray(input.InstanceIds)
          ? { instanceIds: (input.InstanceIds as unknown[]).map(String) }
          : {}),
        parameters: (input.Parameters as SentCommand['parameters']) ?? {},
        ...(typeof input.MaxConcurrency === 'string'
          ? { maxConcurrency: input.MaxConcurrency }
          : {}),
        ...(typeof input.MaxErrors === 'string' ? { maxErrors: input.MaxErrors } : {}),
        ...(typeof input.Comment === 'string' ? { comment: input.Comment } : {}),
      };
      commands.push(command);
      options.onCommand(command);
      return {
        Command: {
          CommandId: command.commandId,
          DocumentName: command.documentName,
          Targets: command.targets,
          ...(command.instanceIds === undefined ? {} : { InstanceIds: command.instanceIds }),
          Parameters: command.parameters,
          Status: 'Pending',
          RequestedDateTime: Date.now() / 1000,
          MaxConcurrency: command.maxConcurrency,
          MaxErrors: command.maxErrors,
        },
      };
    },
    'AmazonSSM.GetParameter'(input) {
      const name = String(input.Name);
      const value = options.parameter(name);
      if (value === undefined) {
        throw new AwsError('ParameterNotFound', `parameter ${name} is not held by the local stack`);
      }
      return {
        Parameter: {
          Name: name,
          Type: 'SecureString',
          Value: value,
          Version: 1,
          DataType: 'text',
          LastModifiedDate: Date.now() / 1000,
          ARN: `arn:aws:ssm:${options.region}:${LOCAL_ACCOUNT_ID}:parameter${name.startsWith('/') ? '' : '/'}${name}`,
        },
      };
    },
    'secretsmanager.GetSecretValue'(input) {
      const id = String(input.SecretId);
      const value = options.secret(id);
      if (value === undefined) {
        throw new AwsError(
          'ResourceNotFoundException',
          `secret ${id} is not held by the local stack`,
        );
      }
      return {
        ARN: `arn:aws:secretsmanager:${options.region}:${LOCAL_ACCOUNT_ID}:secret:${id}`,
        Name: id,
        SecretString: value,
        VersionId: '00000000-0000-0000-0000-000000000001',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: Date.now() / 1000,
      };
    },
  };

  const answer = (response: ServerResponse, status: number, body: unknown, type?: string) => {
    response.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': randomUUID(),
      ...(type === undefined ? {} : { 'x-amzn-errortype': type }),
    });
    response.end(JSON.stringify(body));
  };

  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
    } catch {
      // The caller went away mid-request; nothing to answer.
      request.destroy();
      return;
    }
    const target = String(request.headers['x-amz-target'] ?? '');
    const operation = Object.hasOwn(operations, target) ? operations[target] : undefined;
    if (operation === undefined) {
      answer(
        response,
        400,
        { __type: 'UnknownOperationException', message: `${target} is not served locally` },
        'UnknownOperationException',
      );
      return;
    }
    try {
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      answer(response, 200, operation(input));
    } catch (error) {
      const type = error instanceof AwsError ? error.type : 'ValidationException';
      answer(response, 400, { __type: type, message: (error as Error).message }, type);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    commands,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
