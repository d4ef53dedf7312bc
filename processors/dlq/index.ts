export { createDeadLetterPublisher, type DeadLetter } from "./dead-letter-publisher.ts";
export {
  type DeadLetterInfo,
  listDeadLetters,
  type ReplayOptions,
  type ReplayReport,
  replayDeadLetters,
} from "./dlq-admin.ts";
export {
  DEAD_LETTER_CONTEXT,
  INSTANCE_HEADER,
  type OpenedLetter,
  openLetter,
  SEALED_HEADER,
  sealLetter,
} from "./sealed-letter.ts";
