// Builds the browser assets into server/static/ (run by `make assets`, after `npm ci`).
//
//   server/static/graphiql/   index.html, graphiql.js, graphiql.css, fonts/*
//   server/static/dashboard/  index.html, dashboard.js, dashboard.css
//   server/static/apidocs/    index.html, main.js, page.css, Swagger UI's prebuilt bundle and CSS
//
// Everything is a file served from our own origin: no CDN, no inline <script>, no eval.
// GraphiQL's stylesheet embeds its fonts as data: URLs; they are written out as files so a
// Content-Security-Policy without `font-src data:` still loads them.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `node web/build.mjs [outdir]`: the tests build into a temporary directory and compare
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, 'server', 'static');
const web = join(root, 'web');

const common = {
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  jsx: 'automatic',
};

function extractFonts(cssPath, fontDir) {
  mkdirSync(fontDir, { recursive: true });
  let count = 0;
  const css = readFileSync(cssPath, 'utf8').replace(
    /url\(\s*["']?data:font\/(woff2|woff|ttf|otf);base64,([A-Za-z0-9+/=]+)["']?\s*\)/g,
    (_match, format, data) => {
      const bytes = Buffer.from(data, 'base64');
      const name = `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${format}`;
      writeFileSync(join(fontDir, name), bytes);
      count += 1;
      return `url(fonts/${name})`;
    },
  );
  writeFileSync(cssPath, css);
  return count;
}

for (const page of ['graphiql', 'dashboard', 'apidocs']) {
  rmSync(join(out, page), { recursive: true, force: true });
  mkdirSync(join(out, page), { recursive: true });
}

await esbuild.build({
  ...common,
  entryPoints: { graphiql: join(web, 'graphiql', 'main.jsx') },
  outdir: join(out, 'graphiql'),
});
const fonts = extractFonts(join(out, 'graphiql', 'graphiql.css'), join(out, 'graphiql', 'fonts'));
copyFileSync(join(web, 'graphiql', 'index.html'), join(out, 'graphiql', 'index.html'));
copyFileSync(join(web, 'graphiql', 'page.css'), join(out, 'graphiql', 'page.css'));

await esbuild.build({
  ...common,
  entryPoints: { dashboard: join(web, 'dashboard', 'main.js') },
  outdir: join(out, 'dashboard'),
});
copyFileSync(join(web, 'dashboard', 'index.html'), join(out, 'dashboard', 'index.html'));

// The REST reference: swagger-ui-dist ships built; copied as published, with its licence.
const swagger = join(root, 'node_modules', 'swagger-ui-dist');
for (const file of ['swagger-ui-bundle.js', 'swagger-ui-bundle.js.LICENSE.txt', 'swagger-ui.css']) {
  copyFileSync(join(swagger, file), join(out, 'apidocs', file));
}
for (const file of ['index.html', 'main.js', 'page.css']) {
  copyFileSync(join(web, 'apidocs', file), join(out, 'apidocs', file));
}

console.log(`built ${out}/graphiql (${fonts} fonts extracted), ${out}/dashboard and ${out}/apidocs`);
