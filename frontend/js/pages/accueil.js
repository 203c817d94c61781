// "/": the Espace Aidant when logged in, the login page otherwise.
import { api } from "../api.js";

api("/api/me", { on401: "throw" })
  .then(() => window.location.replace("/espace-aidant/"))
  .catch((err) => {
    if (err.status === 401) window.location.replace("/connexion/");
  });
