import protobuf from 'protobufjs';

// The few messages pullwarden exchanges with a container runtime, with the field numbers of the
// upstream definitions: the CRI image service and version call (k8s.io/cri-api runtime/v1 api.proto)
// and containerd's image metadata service (containerd api/services/images/v1/images.proto), which
// carries the pin label. Fields pullwarden never reads are left out; protobuf skips unknown fields.
// Kept as text so the node binary needs no file beside it.

const PROTO = `
syntax = "proto3";

package runtime.v1;

service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
}

service ImageService {
  rpc ListImages(ListImagesRequest) returns (ListImagesResponse) {}
  rpc ImageStatus(ImageStatusRequest) returns (ImageStatusResponse) {}
  rpc PullImage(PullImageRequest) returns (PullImageResponse) {}
  rpc RemoveImage(RemoveImageRequest) returns (RemoveImageResponse) {}
  rpc ImageFsInfo(ImageFsInfoRequest) returns (ImageFsInfoResponse) {}
}

message VersionRequest { string version = 1; }
message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

message ImageSpec {
  string image = 1;
  map<string, string> annotations = 2;
}
message Int64Value { int64 value = 1; }
message UInt64Value { uint64 value = 1; }

message Image {
  string id = 1;
  repeated string repo_tags = 2;
  repeated string repo_digests = 3;
  uint64 size = 4;
  Int64Value uid = 5;
  string username = 6;
  ImageSpec spec = 7;
  bool pinned = 8;
}

message ImageFilter { ImageSpec image = 1; }
message ListImagesRequest { ImageFilter filter = 1; }
message ListImagesResponse { repeated Image images = 1; }

message ImageStatusRequest {
  ImageSpec image = 1;
  bool verbose = 2;
}
message ImageStatusResponse {
  Image image = 1;
  map<string, string> info = 2;
}

message AuthConfig {
  string username = 1;
  string password = 2;
  string auth = 3;
  string server_address = 4;
  string identity_token = 5;
  string registry_token = 6;
}
message PullImageRequest {
  ImageSpec image = 1;
  AuthConfig auth = 2;
}
message PullImageResponse { string image_ref = 1; }

message RemoveImageRequest { ImageSpec image = 1; }
message RemoveImageResponse {}

message FilesystemIdentifier { string mountpoint = 1; }
message FilesystemUsage {
  int64 timestamp = 1;
  FilesystemIdentifier fs_id = 2;
  UInt64Value used_bytes = 3;
  UInt64Value inodes_used = 4;
}
message ImageFsInfoRequest {}
message ImageFsInfoResponse {
  repeated FilesystemUsage image_filesystems = 1;
  repeated FilesystemUsage container_filesystems = 2;
}
`;

const CONTAINERD_PROTO = `
syntax = "proto3";

package containerd.services.images.v1;

service Images {
  rpc Get(GetImageRequest) returns (GetImageResponse);
  rpc List(ListImagesRequest) returns (ListImagesResponse);
  rpc Update(UpdateImageRequest) returns (UpdateImageResponse);
  rpc Create(CreateImageRequest) returns (CreateImageResponse);
}

message Descriptor {
  string media_type = 1;
  string digest = 2;
  int64 size = 3;
}
message Timestamp {
  int64 seconds = 1;
  int32 nanos = 2;
}
message FieldMask { repeated string paths = 1; }

message Image {
  string name = 1;
  map<string, string> labels = 2;
  Descriptor target = 3;
  Timestamp created_at = 7;
  Timestamp updated_at = 8;
}
message GetImageRequest { string name = 1; }
message GetImageResponse { Image image = 1; }
message ListImagesRequest { repeated string filters = 1; }
message ListImagesResponse { repeated Image images = 1; }
message UpdateImageRequest {
  Image image = 1;
  FieldMask update_mask = 2;
}
message UpdateImageResponse { Image image = 1; }
message CreateImageRequest { Image image = 1; }
message CreateImageResponse { Image image = 1; }
`;

let cri: protobuf.Root | undefined;
let containerd: protobuf.Root | undefined;

function criRoot(): protobuf.Root {
  cri ??= protobuf.parse(PROTO, { keepCase: true }).root;
  return cri;
}

function containerdRoot(): protobuf.Root {
  containerd ??= protobuf.parse(CONTAINERD_PROTO, { keepCase: true }).root;
  return containerd;
}

export interface Codec<T> {
  serialize(value: T): Buffer;
  deserialize(bytes: Buffer): T;
}

/** Encodes and decodes one message type; 64-bit integers become numbers, absent fields defaults. */
function codec<T>(type: protobuf.Type): Codec<T> {
  return {
    serialize(value) {
      const problem = type.verify(value as Record<string, unknown>);
      if (problem !== null) throw new TypeError(`${type.name}: ${problem}`);
      return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
    },
    deserialize(bytes) {
      return type.toObject(type.decode(bytes), {
        longs: Number,
        defaults: true,
        arrays: true,
        objects: true,
      }) as T;
    },
  };
}

/** `/runtime.v1.ImageService/PullImage` and its request and response codecs. */
export function criMethod<Request, Response>(service: string, method: string) {
  const root = criRoot();
  const rpc = root.lookupService(`runtime.v1.${service}`).methods[method];
  if (rpc === undefined) throw new Error(`runtime.v1.${service} has no method ${method}`);
  return {
    path: `/runtime.v1.${service}/${method}`,
    request: codec<Request>(root.lookupType(`runtime.v1.${rpc.requestType}`)),
    response: codec<Response>(root.lookupType(`runtime.v1.${rpc.responseType}`)),
  };
}

export function containerdImagesMethod<Request, Response>(method: string) {
  const root = containerdRoot();
  const name = 'containerd.services.images.v1';
  const rpc = root.lookupService(`${name}.Images`).methods[method];
  if (rpc === undefined) throw new Error(`${name}.Images has no method ${method}`);
  return {
    path: `/${name}.Images/${method}`,
    request: codec<Request>(root.lookupType(`${name}.${rpc.requestType}`)),
    response: codec<Response>(root.lookupType(`${name}.${rpc.responseType}`)),
  };
}
