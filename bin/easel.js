#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm install` (the package's `prepare` script).
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv.slice(2));
