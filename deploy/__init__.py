"""Deployment tooling: everything production needs is generated from the repo.

    python -m deploy build-context FN [--out DIR]   the function's build context, as faas-cli makes it
    python -m deploy ingress [--kind nginx|k8s|functioningress]
    python -m deploy requirements [--check]        each function's requirements.txt, from requirements.lock
    python -m deploy table --cloudformation | --create [--endpoint URL]
    python -m deploy secrets [--generate NAME]
    python -m deploy template verify [DIR]        a pulled python3-http template is the pinned commit's

``stack.yml`` (functions, routes, secrets, scaling) and the pynamodb models in
``shared/store`` are the only sources; nothing here is written by hand twice.
See docs/deploy.md for the production checklist.
"""
