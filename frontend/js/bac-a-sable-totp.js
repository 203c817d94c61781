// The training sandbox's virtual OTP card: the trainee's TOTP secret, kept in this
// browser at sign-up, and its current code (RFC 6238: HMAC-SHA-1, 30-second steps,
// 6 digits, as the phone application computes it). Only the sandbox's build ships
// this file; its data are fictitious, so a secret in localStorage is acceptable here
// (never in production, where a code proves who is at the keyboard).

const KEY = "ac-bac-a-sable-carte";
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function saveCard(email, secret, interval) {
  try {
    localStorage.setItem(KEY, JSON.stringify({ email, secret, interval: interval || 30 }));
    return true;
  } catch (err) {
    return false; // storage refused (private browsing): the phone application remains
  }
}

export function loadCard() {
  try {
    const card = JSON.parse(localStorage.getItem(KEY) || "null");
    return card && typeof card.secret === "string" && typeof card.email === "string" ? card : null;
  } catch (err) {
    return null;
  }
}

export function forgetCard() {
  try {
    localStorage.removeItem(KEY);
  } catch (err) { /* nothing kept */ }
}

function base32(text) {
  const clean = text.toUpperCase().replace(/[^A-Z2-7]/g, "");
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    value = (value << 5) | ALPHABET.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(bytes);
}

/** The code of the step holding `when` (ms), and the seconds it has left. */
export async function currentCode(secret, interval, when) {
  const step = interval || 30;
  const now = (when === undefined ? Date.now() : when) / 1000;
  const counter = Math.floor(now / step);
  const message = new Uint8Array(8);
  let rest = counter;
  for (let i = 7; i >= 0; i -= 1) {
    message[i] = rest & 255;
    rest = Math.floor(rest / 256);
  }
  const key = await crypto.subtle.importKey("raw", base32(secret), { name: "HMAC", hash: "SHA-1" }, false,
    ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
  const offset = mac[mac.length - 1] & 15;
  const number = ((mac[offset] & 127) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return { code: String(number % 1000000).padStart(6, "0"), secondsLeft: Math.ceil((counter + 1) * step - now) };
}

/** Show the card's code in `codeEl`, and the seconds it has left in `leftEl`, every
 * second from now on. */
export function runCard(codeEl, leftEl, secret, interval) {
  if (!(window.crypto && window.crypto.subtle)) {
    // WebCrypto exists only in secure contexts (https, or this machine): elsewhere the
    // phone application is the way.
    leftEl.textContent = "La carte virtuelle a besoin d'une connexion sécurisée (https) : "
      + "utilisez l'application de votre téléphone.";
    return null;
  }
  async function tick() {
    const now = await currentCode(secret, interval);
    if (codeEl.textContent !== now.code) codeEl.textContent = now.code;
    leftEl.textContent = "Nouveau code dans " + now.secondsLeft + " s";
  }
  tick();
  return setInterval(tick, 1000);
}
