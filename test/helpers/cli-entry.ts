// Runs the CLI from the TypeScript sources, as bin/easel.js runs the compiled one.
import { main } from "../../src/cli.js";

process.exitCode = await main(process.argv.slice(2));
