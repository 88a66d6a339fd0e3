export { SnapshotCache, ContentIndex, type CachedFile, type CachedRecord, type CacheState, type ContentLocation } from "./cache.js";
