export { createDeadLetterPublisher, type DeadLetter } from "./dead-letter-publisher.ts";
export {
  type DeadLetterInfo,
  listDeadLetters,
  type ReplayOptions,
  type ReplayReport,
  replayDeadLetters,
} from "./dlq-admin.ts";
