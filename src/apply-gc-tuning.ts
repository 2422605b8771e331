// Imported first by main.ts, so that the service's garbage-collector settings (gc-tuning.ts) are in
// force before anything else is loaded.
import { applyGcTuning } from './gc-tuning.js';

applyGcTuning();
