// Conformance App for glasscloud, built on the real, unmodified @mentra/sdk (see package.json).
//
// An ordinary AppServer App. Configuration comes from the environment:
//   PACKAGE_NAME  package name the App registers as (required)
//   API_KEY       the App's API key, sent in tpa_connection_init (required)
//   PORT          HTTP port of the App server (default 7010, the SDK default)
// Optional behaviour, off unless set (the defaults are an ordinary App):
//   DASHBOARD_TEXT  write this text as the App's dashboard item in onSession
//   ONSTOP_CLEANUP  "1": in onStop, before super.onStop, remove the transcription and button
//                   handlers (calling the unsubscribe functions the SDK returned), as published
//                   captions Apps do; each removal makes the SDK send a subscription_update
//   ONSTOP_SETTLE_MS  with ONSTOP_CLEANUP: wait this long after the cleanup before super.onStop
//                   (an App saving its transcript), so answers to the cleanup can still arrive
//   STOP_DELAY_MS   wait this long in onStop before cleaning up (an App flushing its state), so
//                   the session is still open while the stop is in flight
//   LOCATION_STREAM  in onSession: session.location.subscribeToStream({accuracy: this}, ...)
//   LOCATION_POLL    in onSession: session.location.getLatestLocation({accuracy: this})
//   RTMP_URL         in onSession: session.camera.onStreamStatus(...) then startStream({rtmpUrl})
//   RTMP_STOP_ON     with RTMP_URL: call camera.stopStream() when a status equals this
//   TRANSLATION      "<from>:<to>": session.events.ontranslationForLanguage(from, to, ...)
// The cloud's WebSocket URL is not configured here: it arrives in the session_request webhook.
//
// Machine-readable output: one JSON object per line on stdout, always with "event" as the FIRST
// key (tests/conformance/sdk_app.py parses these). Everything else the SDK prints (pino-pretty,
// console.log) is noise that the Python side ignores.
//
//   {"event":"listening","port":N,"packageName":...}
//   {"event":"session","sessionId":...,"userId":...}
//   {"event":"connected","sessionId":...}                       (only for reconnects after onSession)
//   {"event":"button_press","sessionId":...,"data":{...}}
//   {"event":"transcription","sessionId":...,"data":{...}}
//   {"event":"disconnected","sessionId":...,"info":...}
//   {"event":"error","sessionId":...,"error":{...}}
//   {"event":"stop","sessionId":...,"userId":...,"reason":...}
//   {"event":"cleanup","sessionId":...,"removed":N}               (ONSTOP_CLEANUP only)
//   {"event":"stop_done","sessionId":...}                         (ONSTOP_CLEANUP/STOP_DELAY_MS only)
//   {"event":"location","sessionId":...,"data":{...}}             (LOCATION_STREAM)
//   {"event":"location_poll","sessionId":...,"data":{...}}        (LOCATION_POLL, resolved)
//   {"event":"location_poll_error","sessionId":...,"error":{...}} (LOCATION_POLL, rejected)
//   {"event":"rtmp_status","sessionId":...,"data":{...}}          (RTMP_URL)
//   {"event":"rtmp_started"|"rtmp_stop_sent","sessionId":...}     (RTMP_URL, RTMP_STOP_ON)
//   {"event":"rtmp_error","sessionId":...,"error":{...}}          (RTMP_URL, rejected)
//   {"event":"translation","sessionId":...,"data":{...}}          (TRANSLATION)
//   {"event":"permission_error","sessionId":...,"data":{...}}     (any of the four above)
//   {"event":"shutdown","signal":...}
//   {"event":"fatal","error":{...}}                              (then exit 1)
//   {"event":"unhandled_rejection","error":{...}}

import { AppServer } from "@mentra/sdk";

function emit(event, fields = {}) {
  // process.stdout.write on a pipe is synchronous on Linux, so each line is flushed when this
  // returns; a single write() of < PIPE_BUF bytes is also atomic w.r.t. other writers of fd 1
  // (pino's transport worker), so our lines are never split.
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function describeError(err) {
  if (err instanceof Error) {
    const out = { name: err.name, message: err.message };
    if (err.code !== undefined) out.code = err.code;
    return out;
  }
  if (err && typeof err === "object") {
    // WebSocketError {code, message, details?}
    try {
      return JSON.parse(JSON.stringify(err));
    } catch {
      return { message: String(err) };
    }
  }
  return { message: String(err) };
}

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    emit("fatal", { error: { message: `missing environment variable ${name}` } });
    process.exit(2);
  }
  return value;
}

const PACKAGE_NAME = requireEnv("PACKAGE_NAME");
const API_KEY = requireEnv("API_KEY");
const PORT = Number.parseInt(process.env.PORT || "7010", 10);
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  emit("fatal", { error: { message: `invalid PORT ${JSON.stringify(process.env.PORT)}` } });
  process.exit(2);
}
const DASHBOARD_TEXT = process.env.DASHBOARD_TEXT || "";
const ONSTOP_CLEANUP = process.env.ONSTOP_CLEANUP === "1";
const ONSTOP_SETTLE_MS = Number.parseInt(process.env.ONSTOP_SETTLE_MS || "0", 10) || 0;
const STOP_DELAY_MS = Number.parseInt(process.env.STOP_DELAY_MS || "0", 10) || 0;
const LOCATION_STREAM = process.env.LOCATION_STREAM || "";
const LOCATION_POLL = process.env.LOCATION_POLL || "";
const RTMP_URL = process.env.RTMP_URL || "";
const RTMP_STOP_ON = process.env.RTMP_STOP_ON || "";
const TRANSLATION = process.env.TRANSLATION || "";

// sessionId -> the unsubscribe functions returned by session.events.on...() (ONSTOP_CLEANUP)
const handlerCleanups = new Map();

class ConformanceApp extends AppServer {
  async onSession(session, sessionId, userId) {
    emit("session", { sessionId, userId });

    session.events.onError((err) => {
      emit("error", { sessionId, error: describeError(err) });
    });
    session.events.onDisconnected((info) => {
      // info is a string or {message, code, reason, wasClean, permanent?, sessionEnded?}; the SDK
      // passes ws's close reason through as a Buffer, which would serialise as {type:"Buffer"}.
      if (info && typeof info === "object" && Buffer.isBuffer(info.reason)) {
        info = { ...info, reason: info.reason.toString("utf8") };
      }
      emit("disconnected", { sessionId, info });
    });
    // "connected" fires on every ACK; the first one happened before onSession ran, so this only
    // reports reconnects.
    session.events.onConnected(() => {
      emit("connected", { sessionId });
    });

    // Each handler registration makes the SDK send a (replacing) subscription_update.
    const offTranscription = session.events.onTranscription((data) => {
      emit("transcription", { sessionId, data });
      session.layouts.showTextWall("You said: " + data.text);
    });
    const offButton = session.events.onButtonPress((data) => {
      emit("button_press", { sessionId, data });
      session.layouts.showTextWall("Button " + data.buttonId + " " + data.pressType);
    });
    if (ONSTOP_CLEANUP) handlerCleanups.set(sessionId, [offTranscription, offButton]);

    session.layouts.showTextWall("SDK app ready");
    if (DASHBOARD_TEXT) session.dashboard.content.writeToMain(DASHBOARD_TEXT);
    this.useHardware(session, sessionId);
  }

  // Optional hardware calls (LOCATION_*, RTMP_*, TRANSLATION), each reported as events.
  useHardware(session, sessionId) {
    if (LOCATION_STREAM || LOCATION_POLL || RTMP_URL || TRANSLATION) {
      session.events.onPermissionError((data) => emit("permission_error", { sessionId, data }));
    }
    if (LOCATION_STREAM) {
      session.location.subscribeToStream({ accuracy: LOCATION_STREAM }, (data) => {
        emit("location", { sessionId, data });
      });
    }
    if (LOCATION_POLL) {
      session.location
        .getLatestLocation({ accuracy: LOCATION_POLL })
        .then((data) => emit("location_poll", { sessionId, data }))
        .catch((err) => emit("location_poll_error", { sessionId, error: describeError(err) }));
    }
    if (RTMP_URL) {
      session.camera.onStreamStatus((data) => {
        emit("rtmp_status", { sessionId, data });
        if (RTMP_STOP_ON && data.status === RTMP_STOP_ON) {
          session.camera.stopStream().then(() => emit("rtmp_stop_sent", { sessionId }));
        }
      });
      session.camera
        .startStream({ rtmpUrl: RTMP_URL })
        .then(() => emit("rtmp_started", { sessionId }))
        .catch((err) => emit("rtmp_error", { sessionId, error: describeError(err) }));
    }
    if (TRANSLATION) {
      const [from, to] = TRANSLATION.split(":");
      session.events.ontranslationForLanguage(from, to, (data) => {
        emit("translation", { sessionId, data });
      });
    }
  }

  async onStop(sessionId, userId, reason) {
    emit("stop", { sessionId, userId, reason });
    if (STOP_DELAY_MS > 0) await new Promise((resolve) => setTimeout(resolve, STOP_DELAY_MS));
    if (ONSTOP_CLEANUP) {
      const cleanups = handlerCleanups.get(sessionId) || [];
      handlerCleanups.delete(sessionId);
      for (const off of cleanups) off();
      emit("cleanup", { sessionId, removed: cleanups.length });
      if (ONSTOP_SETTLE_MS > 0) await new Promise((resolve) => setTimeout(resolve, ONSTOP_SETTLE_MS));
    }
    // The default onStop disconnects the session and drops it from the server's maps; without it
    // the session would linger (and /health would keep counting it).
    await super.onStop(sessionId, userId, reason);
    if (ONSTOP_CLEANUP || STOP_DELAY_MS > 0) emit("stop_done", { sessionId });
  }
}

process.on("uncaughtException", (err) => {
  // e.g. EADDRINUSE from the SDK's app.listen(), which has no error handler of its own.
  emit("fatal", { error: describeError(err) });
  process.exit(1);
});
process.on("unhandledRejection", (err) => {
  emit("unhandled_rejection", { error: describeError(err) });
});

const app = new ConformanceApp({
  packageName: PACKAGE_NAME,
  apiKey: API_KEY,
  port: PORT,
});

// The SDK's constructor already installed SIGTERM/SIGINT handlers (they run before this one):
// AppServer.stop() closes every session without ownership_release, then process.exit(0), which
// takes ~0.2 s (pino flushes its log worker thread). Ours only logs and guarantees the exit
// should the SDK's cleanup ever stall.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    emit("shutdown", { signal });
    setTimeout(() => process.exit(0), 1500).unref();
  });
}

// start() resolves only after the SDK's version check against a hard-coded internet host has
// finished or failed (3 s axios timeout, errors swallowed), so "listening" can lag the actual
// listen() by up to ~3 s when there is no network.
await app.start();
emit("listening", { port: PORT, packageName: PACKAGE_NAME });
