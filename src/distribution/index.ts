// Import surface of the distribution layer: signed manifests, bundle storage
// (filesystem and OCI registry), the distribution service with its long-poll
// hub, the publishing client, and the sidecar's bundle watcher.
export { blobDigestOf, createManifest, parseDuration, parseManifest, signingInput, verifyManifest, BUNDLE_NAME, DIGEST, MANIFEST_SCHEMA, MANIFEST_SIGNING_PREFIX, MAX_MANIFEST_BYTES } from "./manifest.js";
export type { ManifestBody, ManifestParams, ManifestSignature, SignedManifest, VerifiedManifest, VerifyManifestOptions } from "./manifest.js";
export { FsStorage } from "./storage.js";
export type { BundleStorage, StoredManifest } from "./storage.js";
export { OciStorage, OCI_ARTIFACT_TYPE, OCI_BUNDLE_MEDIA_TYPE, OCI_MANIFEST_CONFIG_MEDIA_TYPE } from "./oci.js";
export type { OciStorageOptions } from "./oci.js";
export { LongPollHub } from "./hub.js";
export type { Waiter } from "./hub.js";
export { DistributionServer } from "./server.js";
export type { BundleState } from "./server.js";
export { answerError, publishBundle } from "./client.js";
export type { PublishOptions, PublishResult } from "./client.js";
export { distributionServerOptions, watcherOptions, DISTRIBUTION_DEFAULTS, WATCHER_DEFAULTS } from "./options.js";
export type { DistributionServerOptions, WatcherOptions } from "./options.js";
export { BundleWatcher, WATCHER_COMPONENT } from "./watcher.js";
export type { WatchTarget, WatcherStatus } from "./watcher.js";
export { watcherForSidecar, shadowWatcherForSidecar, SHADOW_WATCHER_COMPONENT } from "./sidecar-watch.js";
