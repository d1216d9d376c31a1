/**
 * Reading remote write requests back in tests: prometheus.WriteRequest as a protobufjs type, parsed from
 * the messages of prometheus/prompb's remote.proto and types.proto that a WriteRequest uses (field
 * numbers and types as there; gogoproto options and the messages for remote read left out).
 */
import protobuf from 'protobufjs';

const PROMPB = `
syntax = "proto3";
package prometheus;
message WriteRequest {
  repeated TimeSeries timeseries = 1;
  reserved 2;
  repeated MetricMetadata metadata = 3;
}
message MetricMetadata {
  int32 type = 1;
  string metric_family_name = 2;
  string help = 4;
  string unit = 5;
}
message Sample {
  double value = 1;
  int64 timestamp = 2;
}
message Histogram {
  oneof count {
    uint64 count_int = 1;
    double count_float = 2;
  }
  double sum = 3;
  sint32 schema = 4;
  double zero_threshold = 5;
  oneof zero_count {
    uint64 zero_count_int = 6;
    double zero_count_float = 7;
  }
  repeated BucketSpan negative_spans = 8;
  repeated sint64 negative_deltas = 9;
  repeated double negative_counts = 10;
  repeated BucketSpan positive_spans = 11;
  repeated sint64 positive_deltas = 12;
  repeated double positive_counts = 13;
  int32 reset_hint = 14;
  int64 timestamp = 15;
}
message BucketSpan {
  sint32 offset = 1;
  uint32 length = 2;
}
message TimeSeries {
  repeated Label labels = 1;
  repeated Sample samples = 2;
  repeated Histogram histograms = 4;
}
message Label {
  string name = 1;
  string value = 2;
}
`;

/** WriteRequestMessage is the protobufjs type of prometheus.WriteRequest. */
export const WriteRequestMessage = protobuf.parse(PROMPB).root.lookupType('prometheus.WriteRequest');
