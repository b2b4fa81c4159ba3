"""The official Python SDKs (Mixpanel, Segment, Customer.io), unmodified, against a real
idmerge server over loopback."""
