/**
 * The domain: what a reading is and what it means, standing on nothing of ours. The message
 * contract and its validator (`reading.ts`, which imports only zod and this folder's leaves), the
 * heart-rate thresholds and classification (`heart_rate.ts`, the one place that says what is
 * normal), timestamps (`timestamp.ts`), a record's coordinates (`source_record.ts`), and
 * sustained-episode detection (`episodes.ts`, behind an {@link EpisodeStore} port the storage fills).
 *
 * @module
 */
export {
  createValidator,
  DEFAULT_LIMITS,
  type Reading,
  REASON_CODES,
  type ReasonCode,
  type Rejection,
  type ValidationLimits,
  type Validator,
  type Verdict,
} from "./reading.ts";
export {
  ANOMALY_ABOVE_BPM,
  ANOMALY_BELOW_BPM,
  type Category,
  classify,
  CRITICAL_HIGH_ABOVE_BPM,
  CRITICAL_LOW_BELOW_BPM,
  type EpisodeKind,
  isAnomalous,
  type Severity,
} from "./heart_rate.ts";
export { type ParsedTimestamp, parseTimestamp } from "./timestamp.ts";
export type { SourceRecord } from "./source_record.ts";
export {
  type Alert,
  type AlertEvent,
  CustomerDetector,
  DEFAULT_DETECTOR,
  type DetectorSettings,
  type EpisodeStore,
  EpisodeTracker,
} from "./episodes.ts";
