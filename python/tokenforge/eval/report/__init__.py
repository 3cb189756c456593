def render_html(result):
    return ""
