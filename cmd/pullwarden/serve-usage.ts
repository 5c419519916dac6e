// Kept apart from serve.ts, which loads the local stack (emulators and every function) only when run.

export const SERVE_USAGE = `Usage: pullwarden serve [options]

Runs the whole service in one process: every HTTP route of serverless.yml (webhooks, node group API,
drift), the SQS consumers, EventBridge rules and schedules, on embedded DynamoDB (dynalite) and SQS
(fauxqs) provisioned from infra/. With PULLWARDEN_STATE_TABLE and PULLWARDEN_PREPULL_QUEUE_URL set,
it uses those AWS resources instead (credentials and region from the usual AWS settings).

Options:
  -c, --config <file>       pullwarden.yaml to serve (default: $PULLWARDEN_CONFIG, else
                            examples/pullwarden.yaml)
  -p, --port <port>         port to listen on (default: $PORT, else 8787; 0 picks a free one)
      --host <address>      address to listen on (default 127.0.0.1)
      --data-dir <dir>      emulator state and generated local secrets (default .pullwarden)
      --ephemeral           keep nothing: state lives in a temporary folder removed on exit
      --stage <name>        stage used in resource names (default local)
  -q, --quiet               no line per request, batch or command (errors are still printed)
  -h, --help                show this help

Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.`;
