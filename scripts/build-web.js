#!/usr/bin/env node
// Builds dist/web (or the directory given, for a build compiled elsewhere such as the benchmarks'):
// the status page's own files (web/) and the chart library (uPlot, from node_modules), so that the
// page needs nothing from the internet and the package ships every file it serves.
'use strict';
const { copyFileSync, mkdirSync, readdirSync, rmSync } = require('node:fs');
const { dirname, join } = require('node:path');

const root = join(__dirname, '..');
const out = process.argv[2] ? require('node:path').resolve(process.argv[2]) : join(root, 'dist', 'web');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const name of readdirSync(join(root, 'web'))) copyFileSync(join(root, 'web', name), join(out, name));
const uplot = dirname(require.resolve('uplot/package.json'));
copyFileSync(join(uplot, 'dist', 'uPlot.iife.min.js'), join(out, 'uPlot.iife.min.js'));
copyFileSync(join(uplot, 'dist', 'uPlot.min.css'), join(out, 'uPlot.min.css'));
