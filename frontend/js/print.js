// The printable pages that functions render (mandate, revocation attestation): their
// Content-Security-Policy allows no inline script, so their "Imprimer" button is wired here.
const button = document.getElementById("imprimer");
if (button) button.addEventListener("click", () => window.print());
