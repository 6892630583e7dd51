"""A reference YXC timing platform (vendor side): the scan callback (000 附件二) and a filing client (000 附件四)."""
