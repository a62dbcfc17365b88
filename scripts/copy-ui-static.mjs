// Part of the build: copies the web UI's pages and modules (plain files, no bundling) from
// src/ui/static to dist/ui/static, which is what the npm package ships (it ships no src/).
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const to = path.join(root, 'dist/ui/static');
rmSync(to, { recursive: true, force: true });
cpSync(path.join(root, 'src/ui/static'), to, { recursive: true });
