export { SnapshotCache, ContentIndex, type CachedFile, type CacheState, type ContentLocation } from "./cache.js";
