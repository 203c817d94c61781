"""The login page's return address stays on our site, whatever the browser does to it."""


def test_next_never_leaves_the_site(page):
    page.goto("/connexion/")
    results = page.evaluate("""async () => {
        const {safeNext} = await import('/js/api.js');
        return ['/mandats/?a=1#x', '/\\t/evil.example', '//evil.example', '/\\\\evil.example',
                'https://evil.example/', '/%2F/evil.example', 'mandats'].map(safeNext);
    }""")
    assert results[0] == "/mandats/?a=1#x"
    assert results[1:5] == [None, None, None, None]
    assert results[5] == "/%2F/evil.example"  # an encoded slash is a path segment on our site
    assert results[6] is None
