import { defineConfig } from 'vite';

/**
 * `vite build` writes dashboard/dist: index.html and content-hashed files under assets/, which OpenUA serves
 * (src/http/dashboard.ts) at `/` and `/assets/*`. JSX is Preact's, through esbuild's automatic runtime.
 * Nothing is inlined (no inline script or style, no data: URLs), so the page runs under a CSP of 'self'.
 */
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    // `npm run dev --workspace dashboard` beside `openua serve` on its default port: the API stays same-origin through the proxy.
    proxy: { '/api': 'http://localhost:8080' },
  },
});
