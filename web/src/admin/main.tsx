import { createRoot } from "react-dom/client";
import "../shared/styles.css";
import { App } from "./app.tsx";

createRoot(document.getElementById("root") as HTMLElement).render(<App />);
