"""The ADT inbox: HL7 v2 admission and discharge messages from hospitals, stored, acknowledged and applied."""
