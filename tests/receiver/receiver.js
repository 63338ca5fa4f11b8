#!/usr/bin/env node
// An OTLP/gRPC MetricsService receiver for fsagent's exporter tests: a real
// gRPC server (grpc-js) loading the official OTLP protos shipped in
// @opentelemetry/otlp-grpc-exporter-base, so the protocol side is not ours.
//
// Every Export request becomes one JSON line in --out (keepCase, 64-bit
// integers as strings, enums as their names):
//   {"seq":N,"status":"OK"|"<code name>","metadata":{...},"request":{...}}
// It prints "listening <port>" on stdout once it accepts connections.
//
// Flags:
//   --host H --port P            bind address (port 0: any free port)
//   --out FILE                   JSON lines (default: stdout)
//   --tls-cert F --tls-key F     TLS instead of h2c; --client-ca F also asks for a client certificate
//   --require-header NAME=VALUE  anything else gets UNAUTHENTICATED
//   --fail-first N               the first N requests get --fail-code (default UNAVAILABLE)
//   --fail-code NAME             e.g. UNAVAILABLE, RESOURCE_EXHAUSTED, INVALID_ARGUMENT
//   --retry-delay-ms N           failures carry google.rpc.RetryInfo with this delay
//   --partial-reject N           OK answers carry partial_success{rejected_data_points: N}
//   --partial-message S          ... and this error_message
//   --delay-ms N                 answer after N ms
//   --discard                    do not write accepted requests (throughput runs): only a count at exit
'use strict';
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const a = { host: '127.0.0.1', port: 0, failFirst: 0, failCode: 'UNAVAILABLE', retryDelayMs: -1,
              partialReject: 0, partialMessage: '', delayMs: 0 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    switch (k) {
      case '--host': a.host = v; i++; break;
      case '--port': a.port = Number(v); i++; break;
      case '--out': a.out = v; i++; break;
      case '--tls-cert': a.tlsCert = v; i++; break;
      case '--tls-key': a.tlsKey = v; i++; break;
      case '--client-ca': a.clientCa = v; i++; break;
      case '--require-header': a.requireHeader = v; i++; break;
      case '--fail-first': a.failFirst = Number(v); i++; break;
      case '--fail-code': a.failCode = v; i++; break;
      case '--retry-delay-ms': a.retryDelayMs = Number(v); i++; break;
      case '--partial-reject': a.partialReject = Number(v); i++; break;
      case '--partial-message': a.partialMessage = v; i++; break;
      case '--delay-ms': a.delayMs = Number(v); i++; break;
      case '--discard': a.discard = true; break;
      default: console.error('receiver: unknown flag ' + k); process.exit(2);
    }
  }
  return a;
}

// Minimal protobuf writer for the two messages the npm protos do not have:
// google.rpc.Status with RetryInfo, and the response's partial_success.
function varint(n) {
  let x = BigInt(n);
  const out = [];
  while (x >= 0x80n) { out.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
  out.push(Number(x));
  return Buffer.from(out);
}
const tag = (num, wt) => varint((num << 3) | wt);
const vfield = (num, v) => Buffer.concat([tag(num, 0), varint(v)]);
const lfield = (num, buf) => Buffer.concat([tag(num, 2), varint(buf.length), buf]);

function retryStatusDetails(code, message, delayMs) {
  const duration = Buffer.concat([vfield(1, Math.floor(delayMs / 1000)), vfield(2, (delayMs % 1000) * 1000000)]);
  const retryInfo = lfield(1, duration);
  const any = Buffer.concat([lfield(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), lfield(2, retryInfo)]);
  return Buffer.concat([vfield(1, code), lfield(2, Buffer.from(message)), lfield(3, any)]);
}

function partialSuccessResponse(rejected, message) {
  const ps = Buffer.concat([rejected ? vfield(1, rejected) : Buffer.alloc(0),
                            message ? lfield(2, Buffer.from(message)) : Buffer.alloc(0)]);
  return lfield(1, ps);
}

const args = parseArgs(process.argv);
const protoRoot = path.join(__dirname, 'node_modules', '@opentelemetry', 'otlp-grpc-exporter-base', 'build', 'protos');
const def = protoLoader.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', {
  keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [protoRoot],
});
const pkg = grpc.loadPackageDefinition(def);
const baseService = pkg.opentelemetry.proto.collector.metrics.v1.MetricsService.service;
// Same method, but our own response serializer, so partial_success (field 1)
// goes out even though these protos predate it.
const service = { Export: Object.assign({}, baseService.Export, {
  responseSerialize: () => partialSuccessResponse(args.partialReject, args.partialMessage),
}) };

const out = args.out ? fs.openSync(args.out, 'a') : 1;
let seq = 0;

function metadataObject(md) {
  const o = {};
  for (const [k, v] of Object.entries(md.getMap())) o[k] = Buffer.isBuffer(v) ? v.toString('base64') : v;
  return o;
}

function record(status, call) {
  seq++;
  const line = JSON.stringify({ seq, status, time_ms: Date.now(), metadata: metadataObject(call.metadata),
                                request: call.request });
  fs.writeSync(out, line + '\n');
}

let failuresLeft = args.failFirst;
let accepted = 0;

function handleExport(call, callback) {
  if (args.requireHeader) {
    const eq = args.requireHeader.indexOf('=');
    const name = args.requireHeader.slice(0, eq), value = args.requireHeader.slice(eq + 1);
    const got = call.metadata.get(name);
    if (got.length !== 1 || got[0] !== value) {
      record('UNAUTHENTICATED', call);
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong ' + name });
      return;
    }
  }
  if (failuresLeft > 0) {
    failuresLeft--;
    const code = grpc.status[args.failCode];
    record(args.failCode, call);
    const md = new grpc.Metadata();
    if (args.retryDelayMs >= 0)
      md.set('grpc-status-details-bin', retryStatusDetails(code, 'injected failure', args.retryDelayMs));
    callback({ code, details: 'injected failure: 100% busy', metadata: md });
    return;
  }
  if (args.discard) accepted++;
  else record('OK', call);
  callback(null, {});
}

function handler(call, callback) {
  if (args.delayMs > 0) setTimeout(() => handleExport(call, callback), args.delayMs);
  else handleExport(call, callback);
}

const server = new grpc.Server();
server.addService(service, { Export: handler });
let creds;
if (args.tlsCert) {
  const ca = args.clientCa ? fs.readFileSync(args.clientCa) : null;
  creds = grpc.ServerCredentials.createSsl(ca, [{ cert_chain: fs.readFileSync(args.tlsCert),
                                                  private_key: fs.readFileSync(args.tlsKey) }], !!args.clientCa);
} else {
  creds = grpc.ServerCredentials.createInsecure();
}
server.bindAsync(`${args.host}:${args.port}`, creds, (err, port) => {
  if (err) { console.error('receiver: ' + err.message); process.exit(1); }
  process.stdout.write(`listening ${port}\n`);
});
const stop = () => {
  if (args.discard) process.stdout.write(`accepted ${accepted}\n`);
  server.forceShutdown();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
