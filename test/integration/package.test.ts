import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildArtifacts, listArtifacts } from '../../scripts/build.ts';
import { cachedModules, compileCacheFolder } from '../support/compile-cache.ts';

// The deliverables as they ship: esbuild bundles run on their own, and osls turns serverless.yml into a
// CloudFormation template and one zip per function, offline and without AWS credentials.

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const osls = join(root, 'node_modules/osls/bin/serverless.js');

interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
}

describe('bundles and packaging', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pullwarden-package-'));
    await buildArtifacts(await listArtifacts(root, dist), root);
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('builds one bundle per function and per binary', async () => {
    const names = (await listArtifacts(root, dist)).map((artifact) => artifact.name);
    assert.deepEqual(names, [
      'functions/admission',
      'functions/cluster-events',
      'functions/credential-refresh',
      'functions/drift-report',
      'functions/drift-sweep',
      'functions/ecr-events',
      'functions/findings-api',
      'functions/nodegroup-api',
      'functions/prepull-dispatch',
      'functions/registry-webhook',
      'pullwarden',
      'pullwarden-node',
    ]);
  });

  test('the pullwarden bundle evaluates the examples, with parser threads loaded from beside it', async () => {
    const bundle = join(dist, 'pullwarden/pullwarden.mjs');
    const version = await run(process.execPath, [bundle, 'version']);
    assert.match(version.stdout, /^pullwarden \d+\.\d+\.\d+ /);
    const { stdout } = await run(
      process.execPath,
      [
        bundle,
        'drift',
        'examples/manifests',
        '--config',
        'examples/pullwarden.yaml',
        '--format',
        'json',
        '--fail-on',
        'never',
        '--threads',
        '2',
      ],
      { cwd: root, maxBuffer: 16 << 20 },
    );
    const report = JSON.parse(stdout) as { findings: { ruleId: string }[] };
    const rules = new Set(report.findings.map((finding) => finding.ruleId));
    for (const rule of ['PW001', 'PW002', 'PW003', 'PW004', 'PW005', 'PW006', 'PW007', 'PW008'])
      assert.ok(rules.has(rule), rule);
  });

  test("the pullwarden bundle keeps its compiled CLI in the user's cache directory", async () => {
    const bundle = join(dist, 'pullwarden/pullwarden.mjs');
    const cacheHome = join(scratch, 'cache');
    const { NODE_COMPILE_CACHE: _set, NODE_DISABLE_COMPILE_CACHE: _off, ...env } = process.env;
    for (const attempt of ['first', 'cached']) {
      const { stdout } = await run(process.execPath, [bundle, 'version'], {
        env: { ...env, XDG_CACHE_HOME: cacheHome },
      });
      assert.match(stdout, /^pullwarden \d+\.\d+\.\d+ /, attempt);
    }
    const kept = await cachedModules(compileCacheFolder(cacheHome));
    assert.ok(kept > 0, 'no compiled modules were kept');
  });

  test('the pullwarden-node bundle answers version and rejects unknown commands with exit 2', async () => {
    const bundle = join(dist, 'pullwarden-node/pullwarden-node.mjs');
    assert.match(
      (await run(process.execPath, [bundle, 'version'])).stdout,
      /^pullwarden-node \d+\.\d+\.\d+ /,
    );
    await assert.rejects(
      run(process.execPath, [bundle, 'no-such-command']),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 2);
        assert.match(error.stderr, /unknown command "no-such-command"/);
        return true;
      },
    );
  });

  test('the drift-report bundle handles an HTTP API event end to end', async () => {
    const module = (await import(
      pathToFileURL(join(dist, 'functions/drift-report/index.mjs')).href
    )) as {
      handler: (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>;
    };
    const event = {
      version: '2.0',
      routeKey: 'POST /v1/drift',
      rawPath: '/v1/drift',
      headers: { 'content-type': 'application/yaml' },
      queryStringParameters: { format: 'json' },
      isBase64Encoded: false,
      body: 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: "busybox:latest"}]\n',
    };
    const context = {
      functionName: 'driftReport',
      awsRequestId: 'test-request',
      getRemainingTimeInMillis: () => 10_000,
    };
    const response = await module.handler(event, context);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(
      (JSON.parse(response.body) as { findings: { ruleId: string }[] }).findings.map(
        (finding) => finding.ruleId,
      ),
      ['PW001'],
    );
  });

  test('the credential-refresh bundle runs a scheduled event with nothing brokered', async () => {
    const config = join(scratch, 'empty.yaml');
    await writeFile(config, 'apiVersion: pullwarden.dev/v1\nkind: Config\n');
    Object.assign(process.env, {
      PULLWARDEN_CONFIG_FILE: config,
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    delete process.env.PULLWARDEN_CREDENTIALS_TABLE;
    const module = (await import(
      pathToFileURL(join(dist, 'functions/credential-refresh/index.mjs')).href
    )) as { handler: (event: unknown, context: unknown) => Promise<unknown> };
    const summary = await module.handler(
      { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
      {
        functionName: 'credentialRefresh',
        awsRequestId: 'r',
        getRemainingTimeInMillis: () => 60_000,
      },
    );
    assert.deepEqual(summary, { minted: 0, fresh: 0, failed: 0, atRisk: 0, registries: [] });
  });

  test('osls packages serverless.yml offline into a template with arm64 nodejs24.x functions', async () => {
    const output = join(scratch, 'serverless');
    const env = {
      ...process.env,
      HOME: scratch,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: '',
    };
    await run(process.execPath, [osls, 'package', '--stage', 'ci', '--package', output], {
      cwd: root,
      env,
      maxBuffer: 16 << 20,
    });
    const template = JSON.parse(
      await readFile(join(output, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as Template;
    const fn = template.Resources.DriftReportLambdaFunction;
    assert.ok(fn !== undefined);
    assert.equal(fn.Type, 'AWS::Lambda::Function');
    assert.equal(fn.Properties.Runtime, 'nodejs24.x');
    assert.deepEqual(fn.Properties.Architectures, ['arm64']);
    assert.equal(fn.Properties.Handler, 'dist/functions/drift-report/index.handler');
    const variables = (fn.Properties.Environment as { Variables: Record<string, string> })
      .Variables;
    assert.equal(variables.PULLWARDEN_CONFIG_PARAMETER, '/pullwarden/ci/config');
    assert.equal(
      template.Resources.HttpApiRoutePostV1Drift?.Properties.AuthorizationType,
      'AWS_IAM',
    );
    assert.equal(template.Resources.PullwardenConfigParameter?.Type, 'AWS::SSM::Parameter');

    // Each function runs under its own role; the drift function may read its parameter and nothing else.
    const statements = (roleName: string) =>
      (
        (template.Resources[roleName] as { Properties: unknown }).Properties as {
          Policies: {
            PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] };
          }[];
        }
      ).Policies.flatMap((policy) => policy.PolicyDocument.Statement);
    assert.deepEqual(fn.Properties.Role, { 'Fn::GetAtt': ['DriftReportRole', 'Arn'] });
    const drift = statements('DriftReportRole');
    assert.deepEqual(
      drift.flatMap((statement) => [statement.Action].flat()),
      ['ssm:GetParameter'],
    );
    assert.match(JSON.stringify(drift[0]?.Resource), /parameter\/pullwarden\/ci\/config"/);
    const webhookActions = statements('RegistryWebhookRole').flatMap((s) => [s.Action].flat());
    assert.ok(webhookActions.includes('sqs:SendMessage'));
    assert.ok(!webhookActions.includes('ssm:SendCommand'));
    assert.ok(!JSON.stringify(statements('RegistryWebhookRole')).includes('"*"'));

    // The node-group routes are IAM-authorised; their function writes node reports and nothing else.
    const routes = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::ApiGatewayV2::Route',
    );
    for (const routeKey of [
      'GET /v1/nodegroups/{nodeGroup}/warmset',
      'POST /v1/nodegroups/{nodeGroup}/nodes/{node}/report',
      'GET /v1/nodegroups/{nodeGroup}/status',
    ]) {
      const route = routes.find((r) => r.Properties.RouteKey === routeKey);
      assert.equal(route?.Properties.AuthorizationType, 'AWS_IAM', routeKey);
    }
    const nodegroupStatements = statements('NodegroupApiRole') as {
      Action: string | string[];
      Condition?: unknown;
    }[];
    assert.deepEqual(nodegroupStatements.flatMap((statement) => [statement.Action].flat()).sort(), [
      'dynamodb:PutItem',
      'dynamodb:Query',
      'ssm:GetParameter',
    ]);
    assert.deepEqual(
      nodegroupStatements.find((statement) => statement.Action === 'dynamodb:PutItem')?.Condition,
      { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['nodereport#*'] } },
    );

    // The intake's resources: FIFO queue with a DLQ and an alarm on it, the state table with TTL and PITR.
    const queue = template.Resources.PrepullQueue?.Properties as Record<string, unknown>;
    assert.equal(queue.FifoQueue, true);
    assert.equal((queue.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount, 5);
    assert.equal(template.Resources.PrepullDeadLetterAlarm?.Type, 'AWS::CloudWatch::Alarm');
    const table = template.Resources.StateTable?.Properties as Record<
      string,
      { Enabled?: boolean; PointInTimeRecoveryEnabled?: boolean }
    >;
    assert.equal(table.TimeToLiveSpecification?.Enabled, true);
    assert.equal(table.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled, true);
    const mapping = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping',
    );
    assert.deepEqual(mapping?.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.ok(Object.values(template.Resources).some((r) => r.Type === 'AWS::Events::Rule'));

    // credential-refresh: every five minutes, its own role, and an alarm that also fires on silence.
    const refresh = template.Resources.CredentialRefreshLambdaFunction?.Properties as Record<
      string,
      unknown
    >;
    assert.equal(refresh.Timeout, 60);
    assert.equal(refresh.ReservedConcurrentExecutions, 1);
    // Scheduled functions: one run at a time, no async retries (the next tick is the retry).
    const targets = (r: { Properties: Record<string, unknown> }, fn: string) =>
      JSON.stringify(r.Properties).includes(`"${fn}LambdaFunction`);
    for (const [fn, rate] of [
      ['CredentialRefresh', 'rate(5 minutes)'],
      ['DriftSweep', 'rate(10 minutes)'],
    ] as const) {
      const invokeConfig = Object.values(template.Resources).find(
        (r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && targets(r, fn),
      );
      assert.equal(invokeConfig?.Properties.MaximumRetryAttempts, 0, fn);
      const schedule = Object.values(template.Resources).find(
        (r) =>
          r.Type === 'AWS::Events::Rule' &&
          r.Properties.ScheduleExpression !== undefined &&
          targets(r, fn),
      );
      assert.equal(schedule?.Properties.ScheduleExpression, rate, fn);
    }
    // cluster-events reads its queue with partial batch failures.
    const clusterQueue = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping' && targets(r, 'ClusterEvents'),
    );
    assert.deepEqual(clusterQueue?.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.match(JSON.stringify(clusterQueue?.Properties.EventSourceArn), /ClusterEventsQueue/);
    const alarm = template.Resources.BrokeredCredentialsAtRiskAlarm?.Properties;
    assert.deepEqual(
      [alarm?.Namespace, alarm?.MetricName, alarm?.TreatMissingData],
      ['pullwarden', 'CredentialsAtRisk', 'breaching'],
    );
    const refreshStatements = statements('CredentialRefreshRole');
    assert.deepEqual(refreshStatements.flatMap((statement) => [statement.Action].flat()).sort(), [
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'secretsmanager:GetSecretValue',
      'ssm:GetParameter',
      'ssm:GetParameter',
      'sts:AssumeRole',
    ]);
    assert.ok(!JSON.stringify(refreshStatements).includes('"*"'));
    assert.match(
      JSON.stringify(refreshStatements.find((s) => s.Action === 'sts:AssumeRole')?.Resource),
      /iam::\*:role\/pullwarden-registry-\*/,
    );

    // The Run Command document of `executor: ssm` node groups, under the name the dispatch role may use.
    const document = template.Resources.PrepullDocument?.Properties as {
      Name: string;
      DocumentType: string;
      Content: {
        parameters: Record<string, { type: string; allowedPattern: string }>;
        mainSteps: { inputs: { runCommand: string[]; timeoutSeconds: string } }[];
      };
    };
    assert.equal(template.Resources.PrepullDocument?.Type, 'AWS::SSM::Document');
    assert.deepEqual([document.Name, document.DocumentType], ['pullwarden-prepull', 'Command']);
    assert.deepEqual(Object.keys(document.Content.parameters), ['image']);
    const imagePattern = new RegExp(document.Content.parameters.image?.allowedPattern ?? '');
    assert.match(`registry.internal:5000/team/api@sha256:${'a'.repeat(64)}`, imagePattern);
    assert.doesNotMatch(
      `registry.internal:5000/team/api@sha256:${'a'.repeat(64)};id`,
      imagePattern,
    );
    assert.match(
      JSON.stringify(statements('PrepullDispatchRole').find((s) => s.Action === 'ssm:SendCommand')),
      /document\/pullwarden-prepull"/,
    );
    // One pull at a time per instance, and a step that outlasts the wait for the lock plus the pull.
    const [pullStep] = document.Content.mainSteps;
    assert.match(
      pullStep?.inputs.runCommand.join('\n') ?? '',
      /^\s*flock -w \d+ -E 75 \/var\/lib\/pullwarden\/ssm-pull\.lock \/etc\/eks\/image-credential-provider\/pullwarden-node pull /m,
    );
    assert.equal(pullStep?.inputs.timeoutSeconds, '7200');

    // Only the function's own bundle goes into its zip.
    const { stdout } = await run('unzip', ['-Z1', join(output, 'driftReport.zip')]);
    assert.deepEqual(stdout.trim().split('\n').sort(), [
      'dist/functions/drift-report/index.mjs',
      'dist/functions/drift-report/index.mjs.LEGAL.txt',
      'dist/functions/drift-report/index.mjs.map',
    ]);
  });
});
