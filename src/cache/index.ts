export { SnapshotCache, ContentIndex, recordParts, type CachedFile, type CachedRecord, type CacheState, type ContentLocation } from "./cache.js";
