import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // CLI tests spawn processes and do real I/O; two cores, so two files at a time.
    maxWorkers: 2,
  },
});
