/**
 * io.prometheus.client.MetricFamily as a protobufjs type, built from metrics-proto.ts's descriptor: what
 * the tests decode and encode bodies with. The renderer (src/render/protobuf.ts) writes messages with
 * protobufjs's minimal Writer and needs none of this, so none of it ships in dist/.
 */
import protobuf from 'protobufjs/light.js';
import { METRICS_PROTO } from './metrics-proto.ts';

/** MetricFamilyMessage is the protobufjs type of io.prometheus.client.MetricFamily. */
export const MetricFamilyMessage = protobuf.Root.fromJSON(METRICS_PROTO).lookupType(
  'io.prometheus.client.MetricFamily',
);
