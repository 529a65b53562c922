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
//   STORAGE_PROBE   "1": in onSession, read "visits" from session.simpleStorage, store it + 1,
//                   flush, and report {"event":"storage",...}
//   WEBVIEW_ROUTE   "1": serve GET /webview behind the SDK's own auth middleware (AppServer
//                   installs createAuthMiddleware), answering {"authUserId": ...}
//   APP_COMMS       "1": report App-to-App messages ({"event":"app_message",...}) and act on
//                   button presses: buttonId "broadcast", "direct:<userId>", "discover",
//                   "join:<room>", "room:<room>" (a broadcast naming the room is not possible
//                   with the SDK: broadcastToAppUsers ignores its roomId)
//   SETTINGS_WATCH  comma-separated setting keys: in onSession, report the settings the App got
//                   and register session.settings.onValueChange for each key
//   SETTINGS_FETCH  "1": in onSession, call session.settings.fetch() (GET /appsettings/user/...)
//   TOOL_ECHO       "1": answer AI tool calls (AppServer.onToolCall): toolId "fail" throws,
//                   "slow" waits TOOL_SLOW_MS first; others reply "echo <toolId> <params>"
//   HARDWARE_ACTIONS "1": a button_press whose buttonId names an action runs it through the SDK's
//                   own modules, with `pressType` as its argument: photo (camera.requestPhoto),
//                   speak (audio.speak(pressType)), play (audio.playAudio({audioUrl: pressType})),
//                   play_nowait (the same with stopOtherAudio:false), stop (audio.stopAudio()),
//                   led_on (led.turnOn({color: pressType})), led_off, wifi (requestWifiSetup)
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
//   {"event":"storage","sessionId":...,"before":...,"after":...,"keys":[...]}  (STORAGE_PROBE)
//   {"event":"app_message","sessionId":...,"message":{...}}       (APP_COMMS; also app_user_joined)
//   {"event":"direct_result","sessionId":...,"target":...,"ok":bool}          (APP_COMMS)
//   {"event":"discovered","sessionId":...,"result":{...}}                     (APP_COMMS)
//   {"event":"settings","sessionId":...,"settings":[...]}           (SETTINGS_WATCH only)
//   {"event":"setting_change","sessionId":...,"userId":...,"key":...,"newValue":...,"oldValue":...}
//   {"event":"settings_fetched","sessionId":...,"settings":[...]}   (SETTINGS_FETCH only)
//   {"event":"settings_fetch_failed","sessionId":...,"error":{...}}
//   {"event":"tool_call","toolId":...,"toolParameters":...,"userId":...,"hasSession":bool}
//   {"event":"hardware","action":...,"ok":true,"result":{...}}   (HARDWARE_ACTIONS only)
//   {"event":"hardware","action":...,"ok":false,"error":"..."}   (a rejected promise / throw)
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
const STORAGE_PROBE = process.env.STORAGE_PROBE === "1";
const WEBVIEW_ROUTE = process.env.WEBVIEW_ROUTE === "1";
const APP_COMMS = process.env.APP_COMMS === "1";

// The cloud's HTTP base, derived from the WebSocket URL the session_request named, as the
// SDK's own SimpleStorage does.
function httpBase(session) {
  return (session.getServerUrl() || "").replace(/\/app-ws$/, "").replace(/^ws/, "http");
}

async function storageProbe(session, sessionId) {
  try {
    const before = await session.simpleStorage.get("visits");
    const after = String(Number(before || "0") + 1);
    await session.simpleStorage.set("visits", after);
    await session.simpleStorage.flush();
    emit("storage", { sessionId, before: before ?? null, after, keys: await session.simpleStorage.keys() });
  } catch (err) {
    emit("storage_error", { sessionId, error: describeError(err) });
  }
}

function appComms(session, sessionId) {
  session.onAppMessage((message) => emit("app_message", { sessionId, message }));
  session.onAppUserJoined((message) => emit("app_user_joined", { sessionId, message }));
  session.events.onButtonPress(async (data) => {
    const id = String(data.buttonId || "");
    try {
      if (id === "broadcast") {
        await session.broadcastToAppUsers({ text: "hello from " + session.userId });
      } else if (id.startsWith("direct:")) {
        const target = id.slice("direct:".length);
        const ok = await session.sendDirectMessage(target, { text: "just for " + target });
        emit("direct_result", { sessionId, target, ok });
      } else if (id === "discover") {
        const result = await session.discoverAppUsers(httpBase(session));
        emit("discovered", { sessionId, result });
      } else if (id.startsWith("join:")) {
        await session.joinAppRoom(id.slice("join:".length));
      }
    } catch (err) {
      emit("app_comms_error", { sessionId, button: id, error: describeError(err) });
    }
  });
}
const SETTINGS_WATCH = (process.env.SETTINGS_WATCH || "").split(",").filter(Boolean);
const SETTINGS_FETCH = process.env.SETTINGS_FETCH === "1";
const TOOL_ECHO = process.env.TOOL_ECHO === "1";
const TOOL_SLOW_MS = Number.parseInt(process.env.TOOL_SLOW_MS || "0", 10) || 0;
const HARDWARE_ACTIONS = process.env.HARDWARE_ACTIONS === "1";

// HARDWARE_ACTIONS: one SDK call per action; its outcome is reported as a "hardware" event.
async function runHardware(session, sessionId, action, arg) {
  const calls = {
    photo: async () => {
      const photo = await session.camera.requestPhoto();
      return { requestId: photo.requestId, size: photo.size, mimeType: photo.mimeType };
    },
    speak: () => session.audio.speak(arg),
    play: () => session.audio.playAudio({ audioUrl: arg }),
    play_nowait: () => session.audio.playAudio({ audioUrl: arg, stopOtherAudio: false }),
    stop: async () => session.audio.stopAudio(),
    led_on: () => session.led.turnOn({ color: arg }),
    led_off: () => session.led.turnOff(),
    wifi: async () => session.requestWifiSetup(arg),
  };
  if (!(action in calls)) return;
  try {
    const result = await calls[action]();
    emit("hardware", { sessionId, action, ok: true, result: result ?? null });
  } catch (err) {
    emit("hardware", { sessionId, action, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

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
      if (HARDWARE_ACTIONS) {
        runHardware(session, sessionId, data.buttonId, data.pressType);
        return;
      }
      session.layouts.showTextWall("Button " + data.buttonId + " " + data.pressType);
    });
    if (ONSTOP_CLEANUP) handlerCleanups.set(sessionId, [offTranscription, offButton]);

    if (APP_COMMS) appComms(session, sessionId);
    if (SETTINGS_WATCH.length > 0) {
      emit("settings", { sessionId, settings: session.settings.getAll() });
      for (const key of SETTINGS_WATCH) {
        session.settings.onValueChange(key, (newValue, oldValue) => {
          emit("setting_change", { sessionId, userId, key, newValue, oldValue });
        });
      }
    }
    if (SETTINGS_FETCH) {
      try {
        const settings = await session.settings.fetch();
        emit("settings_fetched", { sessionId, settings });
      } catch (err) {
        emit("settings_fetch_failed", { sessionId, error: describeError(err) });
      }
    }

    session.layouts.showTextWall("SDK app ready");
    if (DASHBOARD_TEXT) session.dashboard.content.writeToMain(DASHBOARD_TEXT);
    if (STORAGE_PROBE) await storageProbe(session, sessionId);
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

  async onToolCall(toolCall) {
    if (!TOOL_ECHO) return super.onToolCall(toolCall);
    const { toolId, toolParameters, userId } = toolCall;
    emit("tool_call", { toolId, toolParameters, userId, hasSession: toolCall.activeSession != null });
    if (toolId === "fail") throw new Error("the tool failed on purpose");
    if (toolId === "slow" && TOOL_SLOW_MS > 0) {
      await new Promise((resolve) => setTimeout(resolve, TOOL_SLOW_MS));
    }
    return `echo ${toolId} ${JSON.stringify(toolParameters || {})}`;
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

if (WEBVIEW_ROUTE) {
  // An ordinary webview page: AppServer already put createAuthMiddleware in front of every
  // route, so req.authUserId is set when the phone's query parameters (or a cookie) check out.
  app.getExpressApp().get("/webview", (req, res) => {
    res.json({ authUserId: req.authUserId ?? null });
  });
}

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
