import { defineConfig } from 'vite';

// The web UI: built into dist/web, served by the scheduler itself.
export default defineConfig({
  root: 'web',
  base: './',
  build: { outDir: '../dist/web', emptyOutDir: true },
  logLevel: 'warn',
});
