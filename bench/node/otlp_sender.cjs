'use strict';
// One OTLP sender for bench/serve_ingest.py, with the real OpenTelemetry JS SDK: it makes GenAI
// chat spans (BasicTracerProvider, a resource, a tracer) and its OTLP exporter sends them, a
// batch of 512 at a time (as the SDK's BatchSpanProcessor hands them over), one export in
// flight, until the deadline it reads on stdin (at least one export). With "same" it exports
// the same 512 finished spans each time (the exporter's own cost, as the Python senders do);
// with "fresh" it makes 512 new ones before each export (the SDK's span creation on top).
//
//   node bench/node/otlp_sender.cjs http|grpc ENDPOINT SERVICE_NAME [same|fresh]
//
// Modules come from .bench-node/node_modules (NODE_PATH), installed by `make bench`.
// Prints "ready" once built, reads the deadline (Unix seconds) from stdin, then prints one JSON
// line: spans exported with success, failed exports, and this process's CPU seconds meanwhile.

const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const SPANS_PER_EXPORT = 512;
const CHAT = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': 'gpt-4o-mini',
  'gen_ai.usage.input_tokens': 100,
  'gen_ai.usage.output_tokens': 20,
};

function exporterFor(protocol, endpoint) {
  if (protocol === 'grpc') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
    return new OTLPTraceExporter({ url: endpoint, timeoutMillis: 60000 });
  }
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url: endpoint, timeoutMillis: 60000 });
}

function firstLine() {
  return new Promise((resolve) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
  });
}

async function main() {
  const [protocol, endpoint, service, spansEach = 'same'] = process.argv.slice(2);
  const exporter = exporterFor(protocol, endpoint);
  const finished = [];
  const collect = {
    onStart() {},
    onEnd(span) {
      finished.push(span);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [collect],
  });
  const tracer = provider.getTracer('bench.serve_ingest');
  const batch = () => {
    for (let i = 0; i < SPANS_PER_EXPORT; i++) {
      tracer.startSpan('chat gpt-4o-mini', { attributes: { ...CHAT, n: i } }).end();
    }
    return finished.splice(0);
  };
  let failures = 0;
  const send = (spans) =>
    new Promise((resolve) =>
      exporter.export(spans, (result) => {
        if (result.code !== 0 && failures++ === 0) {
          process.stderr.write(`export failed: ${result.error}\n`); // the first one says why
        }
        resolve(result.code === 0);
      }),
    );
  const first = batch(); // the first spans (and the JIT's first pass) before the clock
  process.stdout.write('ready\n');
  const deadline = Number(await firstLine()) * 1000;
  const cpu = process.cpuUsage();
  let sent = 0;
  let failed = 0;
  do {
    const spans = spansEach === 'fresh' ? batch() : first;
    if (await send(spans)) sent += spans.length;
    else failed += 1;
  } while (Date.now() < deadline);
  const used = process.cpuUsage(cpu);
  process.stdout.write(JSON.stringify({ sent, failed, cpu_s: (used.user + used.system) / 1e6 }) + '\n');
  await exporter.shutdown();
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
