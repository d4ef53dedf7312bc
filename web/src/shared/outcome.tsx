/** What the last action on a page came to: a note (role=status) and an error (role=alert), each when set. */
export function Outcome(props: { note?: string; error?: string }) {
  return (
    <>
      {props.note && (
        <p className="note" role="status">
          {props.note}
        </p>
      )}
      {props.error && (
        <p className="error" role="alert">
          {props.error}
        </p>
      )}
    </>
  );
}
